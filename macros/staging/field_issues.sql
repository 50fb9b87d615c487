{#-
    Field-level quality: why a person field that was given could not be used, as text, or null when
    it is fine (or was not given). A base_ model keeps the parsed value only where the issue is null,
    so a bad field costs that field, never the record; the `<field>_issue` columns flow through
    staging into int_person_records_unioned and person_record_field_issues.
-#}

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

{#- An email (normalised by normalize_email): given but not the shape of an address. -#}
{% macro email_issue(normalized_expr) -%}
    case
        when {{ normalized_expr }} is not null and not {{ tessera.is_valid_email(normalized_expr) }}
            then 'not a valid email address'
    end
{%- endmacro %}

{#- A phone: given, but normalize_phone could not make an E.164 number of it. -#}
{% macro phone_issue(raw_expr, normalized_expr) -%}
    case
        when nullif(trim(cast({{ raw_expr }} as {{ dbt.type_string() }})), '') is not null
            and {{ normalized_expr }} is null
            then 'not a phone number'
    end
{%- endmacro %}

{#- A postcode (normalised by normalize_postcode): letters and digits only, 2 to 10 of them. -#}
{% macro postcode_issue(normalized_expr) -%}
    case
        when {{ normalized_expr }} is not null
            and not {{ tessera.regex_matches(normalized_expr, "'^[A-Z0-9]{2,10}$'") }}
            then 'not a postcode'
    end
{%- endmacro %}

{#- A timestamp: given but not a timestamp. -#}
{% macro timestamp_issue(raw_expr, parsed_expr) -%}
    case
        when nullif(trim(cast({{ raw_expr }} as {{ dbt.type_string() }})), '') is not null
            and {{ parsed_expr }} is null
            then 'unparseable timestamp'
    end
{%- endmacro %}
