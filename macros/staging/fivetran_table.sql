{#-
    The lower-cased columns of one table a Fivetran connector writes for a source system's preset
    (`source_name` is the preset's dbt source, `system` the Tessera source it feeds), or none when the
    table is absent. A `required` table that is absent stops the build instead: a schema without it is a
    wrong declaration, not an empty source. So does a table without one of `columns`, the columns the
    connector always writes (a renamed or dropped column), naming the table and the column.
-#}
{% macro fivetran_table(source_name, system, table, required=false, columns=[]) -%}
    {%- set relation = source(source_name, table) -%}
    {%- set available = tessera.relation_columns(relation) -%}
    {%- set preset = tessera.source_preset(system) -%}
    {%- set shown = relation.schema ~ "." ~ preset.table_prefix ~ table -%}
    {%- if execute and available is none and required -%}
        {{ exceptions.raise_compiler_error(
            system ~ " preset " ~ preset.preset ~ ": no " ~ preset.table_prefix ~ table ~ " table in "
            ~ relation.schema ~ " (sources/presets.yml; docs/sources.md)") }}
    {%- endif -%}
    {%- if execute and available is not none -%}
        {%- set missing = [] -%}
        {%- for column in columns if column not in available -%}
            {%- do missing.append(column) -%}
        {%- endfor -%}
        {%- if missing -%}
            {{ exceptions.raise_compiler_error(
                system ~ " preset " ~ preset.preset ~ ": table " ~ shown ~ " has no column "
                ~ missing | join(", ") ~ ", which the connector writes (renamed or dropped?); "
                ~ "nothing is staged or published") }}
        {%- endif -%}
    {%- endif -%}
    {{ return(available) }}
{%- endmacro %}

{#-
    SQL that is true when the connector marked the row deleted at the source: `_fivetran_deleted`, or the
    source's own `is_deleted` flag where the connector keeps one (HubSpot); plain false when `available`
    (the table's columns) has neither. `prefix` qualifies the columns (e.g. 'users.').
-#}
{% macro fivetran_soft_deleted(available, prefix='') -%}
    {%- set flags = [] -%}
    {%- for column in ['_fivetran_deleted', 'is_deleted'] -%}
        {%- if available is not none and column in available -%}
            {%- do flags.append('coalesce(' ~ prefix ~ column ~ ', false)') -%}
        {%- endif -%}
    {%- endfor -%}
    {{ '(' ~ flags | join(' or ') ~ ')' if flags else 'false' }}
{%- endmacro %}
