{#- Field-level quality (docs/person_sources.md): why a given person field could not be used, as
    text, or null when it is fine or not given. A base_ model keeps the parsed value only where the
    issue is null, so a bad field costs that field, never the record. -#}

{#- A timestamp: given but not a timestamp. -#}
{% macro timestamp_issue(raw_expr, parsed_expr) -%}
    case
        when nullif(trim(cast({{ raw_expr }} as {{ dbt.type_string() }})), '') is not null
            and {{ parsed_expr }} is null
            then 'unparseable timestamp'
    end
{%- endmacro %}
