{#- Email as compared everywhere: trimmed, lower-cased, inner whitespace removed; empty → null. -#}
{% macro normalize_email(expr) -%}
    nullif(lower({{ tessera.regexp_replace_all('trim(' ~ expr ~ ')', "'\s+'", "''") }}), '')
{%- endmacro %}

{#- An email is valid when it has one @, a non-empty local part and a dotted domain. Expects a normalised value. -#}
{% macro is_valid_email(normalized_expr) -%}
    coalesce({{ tessera.regex_matches(normalized_expr, "'^[a-z0-9._%+''-]+@[a-z0-9-]+(\\.[a-z0-9-]+)*\\.[a-z]{2,}$'") }}, false)
{%- endmacro %}
