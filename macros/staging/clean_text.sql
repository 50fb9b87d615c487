{#- Free text for display (names, streets, subjects): trimmed, inner whitespace collapsed; empty → null. -#}
{% macro clean_text(expr) -%}
    nullif(trim(regexp_replace({{ expr }}, '\s+', ' ', 'g')), '')
{%- endmacro %}
