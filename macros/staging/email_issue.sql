{#- Field-level quality (docs/person_sources.md): why a given person field could not be used, as
    text, or null when it is fine or not given. A base_ model keeps the parsed value only where the
    issue is null, so a bad field costs that field, never the record. -#}

{#- An email (normalised by normalize_email): given but not the shape of an address. -#}
{% macro email_issue(normalized_expr) -%}
    case
        when {{ normalized_expr }} is not null and not {{ tessera.is_valid_email(normalized_expr) }}
            then 'not a valid email address'
    end
{%- endmacro %}
