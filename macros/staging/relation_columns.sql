{#-
    The lower-cased column names of `relation`, or none when it does not exist (a loader creates a
    table only once its first call arrives). An empty list while dbt parses. A loader's own database
    file is attached first: commands that run no hooks (compile, show, docs generate) read it too.
-#}
{% macro relation_columns(relation) -%}
    {%- if not execute -%}
        {{ return([]) }}
    {%- endif -%}
    {%- do tessera.attach_source_databases() -%}
    {%- set existing = load_relation(relation) -%}
    {%- if existing is none -%}
        {{ return(none) }}
    {%- endif -%}
    {{ return(adapter.get_columns_in_relation(existing) | map(attribute='name') | map('lower') | list) }}
{%- endmacro %}
