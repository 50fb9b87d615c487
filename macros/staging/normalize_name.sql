{#- A person's name for display: trimmed, inner whitespace collapsed; empty → null. -#}
{% macro clean_text(expr) -%}
    nullif(trim(regexp_replace({{ expr }}, '\s+', ' ', 'g')), '')
{%- endmacro %}

{#- A name for matching: lower-case, accents stripped, only letters kept ("O'Brien-Smith" → "obriensmith"). -#}
{% macro name_key(expr) -%}
    nullif(regexp_replace(lower({{ tessera.strip_accents(expr) }}), '[^a-z]', '', 'g'), '')
{%- endmacro %}
