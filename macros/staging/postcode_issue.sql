{#- Field-level quality (docs/person_sources.md): why a given person field could not be used, as
    text, or null when it is fine or not given. A base_ model keeps the parsed value only where the
    issue is null, so a bad field costs that field, never the record. -#}

{#- A postcode (normalised by normalize_postcode): letters and digits only, 2 to 10 of them. -#}
{% macro postcode_issue(normalized_expr) -%}
    case
        when {{ normalized_expr }} is not null
            and not {{ tessera.regex_matches(normalized_expr, "'^[A-Z0-9]{2,10}$'") }}
            then 'not a postcode'
    end
{%- endmacro %}
