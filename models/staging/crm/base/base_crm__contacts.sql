{#- The demo preset (docs/raw_schema.md); base/fivetran_hubspot/ holds the
    Fivetran HubSpot one. -#}
{{ config(enabled=tessera.source_preset('crm').preset == 'demo') }}

with

source as (
    select * from {{ source('crm', 'contacts') }}
),

renamed as (
    select
        contact_id as crm_contact_id,
        {{ tessera.clean_text('first_name') }} as first_name,
        {{ tessera.clean_text('last_name') }} as last_name,
        {{ tessera.name_key('first_name') }} as first_name_key,
        {{ tessera.name_key('last_name') }} as last_name_key,
        email as email_raw,
        {{ tessera.normalize_email('email') }} as email,
        phone as phone_raw,
        {{ tessera.normalize_phone('phone', 'country') }} as phone,
        {{ tessera.clean_text('street') }} as street,
        {{ tessera.clean_text('city') }} as city,
        {{ tessera.normalize_postcode('postcode') }} as postcode,
        {{ tessera.clean_text('region') }} as region,
        upper(trim(country)) as country_code,
        {{ tessera.clean_text('job_title') }} as job_title,
        {{ tessera.clean_text('company') }} as company_name,
        cast({{ tessera.try_cast_timestamp('date_of_birth') }} as date)
            as date_of_birth,
        {{ tessera.date_of_birth_issue('date_of_birth', "cast(" ~ tessera.try_cast_timestamp('date_of_birth') ~ " as date)") }}
            as date_of_birth_issue,
        {{ tessera.try_cast_timestamp('created_at') }} as created_at,
        {{ tessera.try_cast_timestamp('updated_at') }} as updated_at,
        cast(_loaded_at as timestamp) as loaded_at
    from source
),

final as (
    select
        *,
        {{ tessera.is_valid_email('email') }} as is_valid_email,
        {{ tessera.is_junk_identifier('email', 'email') }} as is_junk_email,
        {{ tessera.is_junk_identifier('phone', 'phone') }} as is_junk_phone,
        {{ tessera.email_issue('email') }} as email_issue,
        {{ tessera.phone_issue('phone_raw', 'phone') }} as phone_issue,
        {{ tessera.quarantine_reason([
            tessera.suppression_check([('crm_contact_id', 'crm_contact_id'), ('email', 'email'), ('phone', 'phone')]),
            ("crm_contact_id is null", "missing primary key"),
            ("created_at is null", "bad or missing created_at"),
            ("updated_at is null", "bad or missing updated_at"),
            ("first_name is null and last_name is null and email is null and phone is null",
                "no name and no contact details"),
        ]) }} as quarantine_reason
    from renamed
)

select * from final
