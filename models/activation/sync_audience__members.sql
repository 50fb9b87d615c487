{#- One row per audience member (audience_name, customer_id), with the holdout
    flags of audience_memberships and the customer fields and consents an
    audience sync maps. The sync engine reads one audience's rows
    (source: {audience: <name>}) and never sends a row flagged is_holdout or
    is_global_holdout (docs/syncs.md). -#}
with

memberships as (
    select * from {{ ref('audience_memberships') }}
),

customers as (
    select * from {{ ref('customers') }}
),

consent_current as (
    select * from {{ ref('consent_current') }}
),

consents as (
    select
        customer_id,
        {{ dbt.bool_or("consent_purpose = 'email_marketing' and is_granted") }}
            as has_consent_email_marketing,
        {{ dbt.bool_or("consent_purpose = 'sms_marketing' and is_granted") }}
            as has_consent_sms_marketing,
        {{ dbt.bool_or(
            "consent_purpose = 'ads_personalisation' and is_granted"
        ) }} as has_consent_ads_personalisation,
        max(
            case
                when
                    consent_purpose = 'email_marketing' and is_granted
                    then consent_event_id
            end
        ) as consent_basis_email_marketing,
        max(
            case
                when
                    consent_purpose = 'sms_marketing' and is_granted
                    then consent_event_id
            end
        ) as consent_basis_sms_marketing,
        max(
            case
                when
                    consent_purpose = 'ads_personalisation' and is_granted
                    then consent_event_id
            end
        ) as consent_basis_ads_personalisation
    from consent_current
    group by 1
),

final as (
    select
        memberships.audience_name,
        memberships.customer_id,
        memberships.is_holdout,
        memberships.is_global_holdout,
        customers.email,
        customers.phone,
        customers.first_name,
        customers.last_name,
        customers.country_code,
        consents.consent_basis_email_marketing,
        consents.consent_basis_sms_marketing,
        consents.consent_basis_ads_personalisation,
        coalesce(consents.has_consent_email_marketing, false)
            as has_consent_email_marketing,
        coalesce(consents.has_consent_sms_marketing, false)
            as has_consent_sms_marketing,
        coalesce(consents.has_consent_ads_personalisation, false)
            as has_consent_ads_personalisation
    from memberships
    left join customers
        on memberships.customer_id = customers.customer_id
    left join consents
        on memberships.customer_id = consents.customer_id
)

select * from final
