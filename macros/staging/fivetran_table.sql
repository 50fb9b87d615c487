{#-
    The lower-cased columns of one table a Fivetran connector writes for a source system's preset
    (`source_name` is the preset's dbt source, `system` the Tessera source it feeds), or none when the
    table is absent. A `required` table that is absent stops the build instead: a schema without it is a
    wrong declaration, not an empty source.
-#}
{% macro fivetran_table(source_name, system, table, required=false) -%}
    {%- set relation = source(source_name, table) -%}
    {%- set available = tessera.relation_columns(relation) -%}
    {%- if execute and available is none and required -%}
        {%- set preset = tessera.source_preset(system) -%}
        {{ exceptions.raise_compiler_error(
            system ~ " preset " ~ preset.preset ~ ": no " ~ preset.table_prefix ~ table ~ " table in "
            ~ relation.schema ~ " (sources/presets.yml; docs/sources.md)") }}
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
