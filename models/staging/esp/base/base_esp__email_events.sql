{#- The demo preset (docs/raw_schema.md); base/fivetran_klaviyo/ holds the
    Fivetran Klaviyo one. -#}
{{ config(enabled=tessera.source_preset('esp').preset == 'demo') }}

with

source as (
    select * from {{ source('esp', 'email_events') }}
),

renamed as (
    select
        event_id as email_event_id,
        email as email_raw,
        {{ tessera.normalize_email('email') }} as email,
        campaign_id,
        campaign_name,
        lower(trim(event_type)) as email_event_type,
        url as clicked_url,
        cast(occurred_at as timestamp) as occurred_at,
        cast(_loaded_at as timestamp) as loaded_at
    from source
),

final as (
    select
        *,
        {{ tessera.is_junk_identifier('email', 'email') }} as is_junk_email,
        {{ tessera.quarantine_reason([
            tessera.suppression_check([('email', 'email')]),
            ("email_event_id is null", "missing primary key"),
            ("email is null", "missing email"),
            ("email_event_type not in ('send', 'open', 'click', 'unsubscribe', 'bounce')
                or email_event_type is null", "unknown event type"),
            ("occurred_at is null", "missing occurred_at"),
            ("not " ~ tessera.is_plausible_timestamp("occurred_at"), "occurred_at out of range"),
        ]) }} as quarantine_reason
    from renamed
)

select * from final
