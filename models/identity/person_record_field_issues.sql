{#-
    Every field of a person record that was given but could not be used, one row per (record,
    field), with the reason: a date of birth that is not a date, an email that is not an address, a
    phone that is not a number, a postcode that is not one. Staging made the field null and kept
    the record (a bad field never costs the whole record); this is where analysts find what to fix
    in the source. Long format rather than one `<field>_issue` column per source, so one query
    covers every source and a new field or source adds rows, not columns.
-#}
{%- set fields = ['date_of_birth', 'email', 'phone', 'postcode'] -%}

with

person_records as (
    select * from {{ ref('int_person_records_unioned') }}
),

final as (
    {%- for field in fields %}
        select
            source_name,
            table_name,
            record_id,
            '{{ field }}' as field_name,
            {{ field }}_issue as issue,
            observed_at
        from person_records
        where {{ field }}_issue is not null
        {%- if not loop.last %}
            union all
        {%- endif %}
    {%- endfor %}
)

select * from final
