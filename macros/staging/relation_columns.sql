{#-
    The lower-cased column names of `relation`, or none when it does not exist (a loader creates a
    table only once its first call arrives). An empty list while dbt parses.
-#}
{% macro relation_columns(relation) -%}
    {%- if not execute -%}
        {{ return([]) }}
    {%- endif -%}
    {%- set existing = load_relation(relation) -%}
    {%- if existing is none -%}
        {{ return(none) }}
    {%- endif -%}
    {{ return(adapter.get_columns_in_relation(existing) | map(attribute='name') | map('lower') | list) }}
{%- endmacro %}
