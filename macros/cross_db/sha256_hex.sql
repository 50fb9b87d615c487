{#- SHA-256 of a text expression as 64 lowercase hex characters, the same on every warehouse. -#}
{% macro sha256_hex(expr) -%}
    {{ return(adapter.dispatch('sha256_hex', 'tessera')(expr)) }}
{%- endmacro %}

{% macro default__sha256_hex(expr) -%}
    lower(sha2({{ expr }}, 256))
{%- endmacro %}

{% macro duckdb__sha256_hex(expr) -%}
    sha256({{ expr }})
{%- endmacro %}

{% macro postgres__sha256_hex(expr) -%}
    encode(sha256(convert_to({{ expr }}, 'UTF8')), 'hex')
{%- endmacro %}
