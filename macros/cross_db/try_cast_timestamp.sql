{#- Parse a text timestamp; a value that is not a valid timestamp gives null instead of an error. -#}
{% macro try_cast_timestamp(expr) -%}
    {{ return(adapter.dispatch('try_cast_timestamp', 'tessera')(expr)) }}
{%- endmacro %}

{% macro default__try_cast_timestamp(expr) -%}
    {{ dbt.safe_cast(expr, api.Column.translate_type('timestamp')) }}
{%- endmacro %}

{% macro duckdb__try_cast_timestamp(expr) -%}
    try_cast(nullif(trim({{ expr }}), '') as timestamp)
{%- endmacro %}

{#- Postgres has no try_cast: a small function created by `create_udfs` catches the error. -#}
{% macro postgres__try_cast_timestamp(expr) -%}
    {{ target.schema }}.tessera_try_timestamp({{ expr }})
{%- endmacro %}

{#- Spark has try_cast; an empty or blank text is null, as on the other warehouses. -#}
{% macro spark__try_cast_timestamp(expr) -%}
    try_cast(nullif(trim({{ expr }}), '') as timestamp)
{%- endmacro %}
