{#- One row per journey and customer ready for the journey's sync step (journey_members.is_ready),
    with the entry audience's sync row: holdout flags, customer fields and consents as in
    sync_audience__members. The sync engine reads one journey's rows (source: {journey: <name>});
    holdout members are never ready, and the engine would not send them anyway. -#}
with

journey_members as (
    select * from {{ ref('journey_members') }}
),

audience_members as (
    select * from {{ ref('sync_audience__members') }}
),

ready as (
    select
        journey_name,
        customer_id,
        entry_audience_name,
        entered_at,
        wait_elapses_at
    from journey_members
    where is_ready
),

final as (
    select
        ready.journey_name,
        ready.customer_id,
        ready.entry_audience_name,
        audience_members.email,
        audience_members.phone,
        audience_members.first_name,
        audience_members.last_name,
        audience_members.country_code,
        audience_members.consent_basis_email_marketing,
        audience_members.consent_basis_sms_marketing,
        audience_members.consent_basis_ads_personalisation,
        audience_members.is_holdout,
        audience_members.is_global_holdout,
        audience_members.has_consent_email_marketing,
        audience_members.has_consent_sms_marketing,
        audience_members.has_consent_ads_personalisation,
        ready.entered_at,
        ready.wait_elapses_at
    from ready
    inner join audience_members
        on ready.entry_audience_name = audience_members.audience_name
        and ready.customer_id = audience_members.customer_id
)

select * from final
