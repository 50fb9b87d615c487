{#-
    The lower-cased columns of one of the tables Fivetran's Shopify connector writes (the fivetran
    preset of the shop source), or none when it is absent. `required` tables stop the build instead:
    a schema without them is a wrong declaration, not an empty shop.
-#}
{% macro fivetran_shop_table(table, required=false) -%}
    {%- set relation = source('fivetran_shopify', table) -%}
    {%- set available = tessera.relation_columns(relation) -%}
    {%- if execute and available is none and required -%}
        {%- set preset = tessera.source_preset('shop') -%}
        {{ exceptions.raise_compiler_error(
            "shop preset fivetran: no " ~ preset.table_prefix ~ table ~ " table in " ~ relation.schema
            ~ " (sources/presets.yml; docs/sources.md)") }}
    {%- endif -%}
    {{ return(available) }}
{%- endmacro %}

{#- Whether Fivetran marked the row deleted in Shopify (`_fivetran_deleted`; absent means never). -#}
{% macro fivetran_deleted(available) -%}
    {%- if available is not none and '_fivetran_deleted' in available -%}
        coalesce(_fivetran_deleted, false)
    {%- else -%}
        false
    {%- endif -%}
{%- endmacro %}
