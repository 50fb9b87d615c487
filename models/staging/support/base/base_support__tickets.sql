{#- The demo preset (docs/raw_schema.md); base/fivetran_zendesk/ holds the
    Fivetran Zendesk one. -#}
{{ config(enabled=tessera.source_preset('support').preset == 'demo') }}

with

source as (
    select * from {{ source('support', 'tickets') }}
),

renamed as (
    select
        cast(ticket_id as {{ dbt.type_string() }}) as ticket_id,
        requester_email as email_raw,
        {{ tessera.normalize_email('requester_email') }} as email,
        requester_phone as phone_raw,
        {{ tessera.normalize_phone('requester_phone') }} as phone,
        {{ tessera.clean_text('requester_name') }} as requester_name,
        {{ tessera.clean_text('subject') }} as subject,
        lower(trim(status)) as ticket_status,
        lower(trim(priority)) as priority,
        lower(trim(channel)) as ticket_channel,
        lower(trim(status)) in ('new', 'open', 'pending') as is_open,
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
            tessera.suppression_check([('email', 'email'), ('phone', 'phone')]),
            ("ticket_id is null", "missing primary key"),
            ("created_at is null", "bad or missing created_at"),
            ("email is null and phone is null", "no requester email or phone"),
        ]) }} as quarantine_reason
    from renamed
)

select * from final
