{#- Field-level quality (docs/person_sources.md): why a given person field could not be used, as
    text, or null when it is fine or not given. A base_ model keeps the parsed value only where the
    issue is null, so a bad field costs that field, never the record. -#}

{#- A date of birth: given but not a date (in the declared format), or, when `latest_expr` is given,
    outside 1900-01-01 .. `latest_expr`. -#}
{% macro date_of_birth_issue(raw_expr, parsed_expr, latest_expr=none) -%}
    case
        when nullif(trim(cast({{ raw_expr }} as {{ dbt.type_string() }})), '') is not null
            and {{ parsed_expr }} is null
            then 'unparseable date'
        {%- if latest_expr is not none %}
        when
            {{ parsed_expr }} < cast('1900-01-01' as date)
            or {{ parsed_expr }} > cast({{ latest_expr }} as date)
            then 'implausible date (before 1900 or in the future)'
        {%- endif %}
    end
{%- endmacro %}
