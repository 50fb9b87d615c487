{#-
    Every row of every declared person source, normalised the way every other source is, with the
    first rule it breaks in quarantine_reason. A field that does not parse (a date of birth, an
    email, a phone, a postcode, observed_at) becomes null, with the reason in its `<field>_issue`
    column: it costs that field, never the record. A row is quarantined only when it cannot be a
    record at all: a line the loader could not parse, no record id or one seen before, a suppressed
    person, or no usable identity (no name and no usable identifier).
-#}
with

source as (
    select * from {{ source('person_sources', 'records') }}
),

renamed as (
    select
        source_name,
        table_name,
        nullif(trim(record_id), '') as record_id,
        row_number,
        {{ tessera.clean_text('first_name') }} as first_name_given,
        {{ tessera.clean_text('last_name') }} as last_name_given,
        {{ tessera.clean_text('full_name') }} as full_name_given,
        nullif(trim(date_of_birth), '') as date_of_birth_raw,
        {{ tessera.parse_date('date_of_birth', 'date_format') }}
            as date_of_birth_parsed,
        email as email_raw,
        {{ tessera.normalize_email('email') }} as email_parsed,
        phone as phone_raw,
        {{ tessera.normalize_phone('phone', "coalesce(nullif(trim(country), ''), default_country)") }}
            as phone_parsed,
        {{ tessera.clean_text('street') }} as street,
        {{ tessera.clean_text('city') }} as city,
        {{ tessera.normalize_postcode('postcode') }} as postcode_parsed,
        {{ tessera.clean_text('region') }} as region,
        upper(coalesce(nullif(trim(country), ''), default_country)) as country,
        nullif(trim(observed_at), '') as observed_at_raw,
        {{ tessera.try_cast_timestamp('observed_at') }} as observed_at_parsed,
        external_id_count,
        source_priority,
        date_format,
        load_error,
        raw_record,
        file_modified_at,
        cast(_loaded_at as timestamp) as loaded_at
    from source
),

{# A full name alone gives the first word as first name and the last word as last name. #}
named as (
    select
        *,
        coalesce(
            first_name_given,
            case when last_name_given is null then {{ dbt.split_part('full_name_given', "' '", 1) }} end
        ) as first_name,
        coalesce(
            last_name_given,
            case
                when first_name_given is null and full_name_given like '% %'
                    then regexp_replace(full_name_given, '^.* ', '')
            end
        ) as last_name
    from renamed
),

keyed as (
    select
        *,
        {{ tessera.name_key('first_name') }} as first_name_key_any,
        {{ tessera.name_key('last_name') }} as last_name_key_any
    from named
),

{# A placeholder name ("test", "n/a") keeps its display value but gets no matching key: it is no
    evidence about who the record is, so identity's name checks never compare it. #}
normalised as (
    select
        *,
        case
            when not {{ tessera.is_junk_identifier('name', 'first_name_key_any') }} then first_name_key_any
        end as first_name_key,
        case
            when not {{ tessera.is_junk_identifier('name', 'last_name_key_any') }} then last_name_key_any
        end as last_name_key,
        coalesce(
            full_name_given,
            nullif(trim(coalesce(first_name, '') || ' ' || coalesce(last_name, '')), '')
        ) as full_name,
        coalesce(observed_at_parsed, file_modified_at, loaded_at)
            as observed_at,
        row_number() over (
            partition by source_name, table_name, record_id
            order by row_number
        ) as record_id_occurrence
    from keyed
),

{# Field quality: an issue nulls its field (the raw value stays in raw_record). #}
checked as (
    select
        *,
        {{ tessera.date_of_birth_issue(
            'date_of_birth_raw', 'date_of_birth_parsed', 'loaded_at'
        ) }} as date_of_birth_issue,
        {{ tessera.email_issue('email_parsed') }} as email_issue,
        {{ tessera.phone_issue('phone_raw', 'phone_parsed') }} as phone_issue,
        {{ tessera.postcode_issue('postcode_parsed') }} as postcode_issue,
        {{ tessera.timestamp_issue('observed_at_raw', 'observed_at_parsed') }}
            as observed_at_issue
    from normalised
),

cleaned as (
    select
        *,
        case when date_of_birth_issue is null then date_of_birth_parsed end
            as date_of_birth,
        case when email_issue is null then email_parsed end as email,
        case when phone_issue is null then phone_parsed end as phone,
        case when postcode_issue is null then postcode_parsed end as postcode
    from checked
),

flagged as (
    select
        *,
        {{ tessera.is_valid_email('email') }} as is_valid_email,
        {{ tessera.is_junk_identifier('email', 'email') }} as is_junk_email,
        {{ tessera.is_junk_identifier('phone', 'phone') }} as is_junk_phone,
        first_name_key is not null or last_name_key is not null
            as has_usable_name
    from cleaned
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
        loaded_at,
        {#- A line the loader could not parse carries its own reason (malformed CSV line (…)). -#}
        coalesce(load_error, {{ tessera.quarantine_reason([
            tessera.suppression_check([('email', 'email'), ('phone', 'phone')]),
            ("record_id is null", "missing record id"),
            ("record_id_occurrence > 1", "duplicate record id"),
            ("not has_usable_name and (email is null or is_junk_email) and (phone is null or is_junk_phone)"
                ~ " and external_id_count = 0", "no name and no usable identifier"),
        ]) }}) as quarantine_reason
    from flagged
)

select * from final
