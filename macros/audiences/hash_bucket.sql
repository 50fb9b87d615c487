{#- A stable bucket 0-99 from the hash of `expr`: the same input gives the same bucket on every warehouse. -#}
{% macro hash_bucket(expr) -%}
    {{ return(adapter.dispatch('hash_bucket', 'tessera')(expr)) }}
{%- endmacro %}

{% macro default__hash_bucket(expr) -%}
    cast(('x' || substr(md5({{ expr }}), 1, 8))::bit(32)::bigint % 100 as integer)
{%- endmacro %}

{% macro duckdb__hash_bucket(expr) -%}
    cast(cast(('0x' || substr(md5({{ expr }}), 1, 8)) as bigint) % 100 as integer)
{%- endmacro %}
