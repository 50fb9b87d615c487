{#- Free text for display (names, streets, subjects): trimmed, inner whitespace collapsed; empty → null. -#}
{% macro clean_text(expr) -%}
    nullif(trim({{ tessera.regexp_replace_all(expr, "'\s+'", "' '") }}), '')
{%- endmacro %}
