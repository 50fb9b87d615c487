{#- The person-source records that broke no staging rule, in the standard person-record shape. -#}
with

base as (
    select * from {{ ref('base_person_sources__records') }}
),

final as (
    select
        source_name,
        table_name,
        record_id,
        row_number,
        first_name,
        last_name,
        full_name,
        first_name_key,
        last_name_key,
        email_raw,
        email,
        phone_raw,
        phone,
        street,
        city,
        postcode,
        region,
        country,
        raw_record,
        source_priority,
        external_id_count,
        is_valid_email,
        is_junk_email,
        is_junk_phone,
        has_usable_name,
        date_of_birth,
        date_of_birth_issue,
        email_issue,
        phone_issue,
        postcode_issue,
        observed_at_issue,
        observed_at,
        loaded_at
    from base
    where quarantine_reason is null
)

select * from final
