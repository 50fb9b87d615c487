with

source as (
    select * from {{ source('consent', 'consent_events') }}
),

renamed as (
    select
        consent_event_id,
        lower(trim(subject_type)) as subject_type,
        subject_value as subject_value_raw,
        case lower(trim(subject_type))
            when 'email' then {{ tessera.normalize_email('subject_value') }}
            when 'phone' then {{ tessera.normalize_phone('subject_value') }}
            else nullif(trim(subject_value), '')
        end as subject_value,
        lower(trim(purpose)) as consent_purpose,
        lower(trim(channel)) as consent_channel,
        lower(trim(status)) as consent_status,
        lower(trim(source)) as consent_source,
        cast(occurred_at as timestamp) as occurred_at,
        cast(_loaded_at as timestamp) as loaded_at
    from source
),

final as (
    select
        *,
        {{ tessera.quarantine_reason([
            tessera.suppression_check_typed('subject_type', 'subject_value'),
            ("consent_event_id is null", "missing primary key"),
            ("subject_value is null", "missing or unusable subject identifier"),
            ("subject_type not in ('email', 'phone', 'crm_contact_id', 'shop_customer_id') or subject_type is null",
                "unknown subject type"),
            ("consent_purpose not in ('email_marketing', 'sms_marketing', 'ads_personalisation', 'analytics')
                or consent_purpose is null", "unknown purpose"),
            ("consent_status not in ('granted', 'denied', 'withdrawn') or consent_status is null",
                "unknown status"),
            ("occurred_at is null", "missing occurred_at"),
            ("not " ~ tessera.is_plausible_timestamp("occurred_at"), "occurred_at out of range"),
        ]) }} as quarantine_reason
    from renamed
)

select * from final
