{#- A name for matching: lower-case, accents stripped, only letters kept ("O'Brien-Smith" → "obriensmith"). -#}
{% macro name_key(expr) -%}
    nullif({{ tessera.regexp_replace_all('lower(' ~ tessera.strip_accents(expr) ~ ')', "'[^a-z]'", "''") }}, '')
{%- endmacro %}
