{#- Postcode for matching: upper-case, no spaces or dashes ("sw1a 1aa" → "SW1A1AA", "00-950" → "00950"). -#}
{% macro normalize_postcode(expr) -%}
    nullif(upper({{ tessera.regexp_replace_all(expr, "'[\s-]'", "''") }}), '')
{%- endmacro %}
