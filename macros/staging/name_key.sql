{#- A name for matching: lower-case, accents stripped, only letters kept ("O'Brien-Smith" → "obriensmith"). -#}
{% macro name_key(expr) -%}
    nullif(regexp_replace(lower({{ tessera.strip_accents(expr) }}), '[^a-z]', '', 'g'), '')
{%- endmacro %}
