{#- Refresh planner statistics on a freshly built table, where the warehouse needs it (Postgres:
    without them every self-join in identity is planned as a nested loop over "1 row"). -#}
{% macro analyze_relation(relation) -%}
    {{ return(adapter.dispatch('analyze_relation', 'tessera')(relation)) }}
{%- endmacro %}

{% macro default__analyze_relation(relation) -%}
{%- endmacro %}

{% macro postgres__analyze_relation(relation) -%}
    {%- if relation.type != 'view' -%}
    analyze {{ relation }}
    {%- endif -%}
{%- endmacro %}
