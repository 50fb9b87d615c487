{#- Known customers with an email, in the shape of a customer export file,
    with their consents and the global holdout flag (the same hash as
    audience_memberships): the sync engine never sends a flagged row. -#}
with

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
        )
            as consent_basis_email_marketing
    from consent_current
    group by 1
),

final as (
    select
        customers.customer_id,
        customers.email,
        customers.phone,
        customers.first_name,
        customers.last_name,
        customers.country_code,
        coalesce(consents.has_consent_email_marketing, false)
            as has_consent_email_marketing,
        coalesce(consents.has_consent_sms_marketing, false)
            as has_consent_sms_marketing,
        coalesce(consents.has_consent_ads_personalisation, false)
            as has_consent_ads_personalisation,
        consents.consent_basis_email_marketing,
        {{ tessera.hash_bucket("'global:' || customers.customer_id") }}
        < {{ tessera.analyst_var('holdout_global_percent', 0) }}
            as is_global_holdout
    from customers
    left join consents
        on customers.customer_id = consents.customer_id
    where customers.email is not null
)

select * from final
