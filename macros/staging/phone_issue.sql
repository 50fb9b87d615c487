{#- Field-level quality (docs/person_sources.md): why a given person field could not be used, as
    text, or null when it is fine or not given. A base_ model keeps the parsed value only where the
    issue is null, so a bad field costs that field, never the record. -#}

{#- A phone: given, but normalize_phone could not make an E.164 number of it. -#}
{% macro phone_issue(raw_expr, normalized_expr) -%}
    case
        when nullif(trim(cast({{ raw_expr }} as {{ dbt.type_string() }})), '') is not null
            and {{ normalized_expr }} is null
            then 'not a phone number'
    end
{%- endmacro %}
