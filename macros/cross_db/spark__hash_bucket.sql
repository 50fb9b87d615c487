{#- Spark's hash_bucket (macros/audiences/hash_bucket.sql): the first 8 hex digits of the md5, read as
    an unsigned 32-bit number as DuckDB does (`conv` from base 16), modulo 100; the same bucket as on
    DuckDB and Postgres. -#}
{% macro spark__hash_bucket(expr) -%}
    cast(cast(conv(substr(md5({{ expr }}), 1, 8), 16, 10) as bigint) % 100 as integer)
{%- endmacro %}
