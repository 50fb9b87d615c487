{#- One row per priority list and customer: the audience the customer is
    assigned to (audience_priority_list_members), with that membership's holdout
    flags and the same customer fields and consents as sync_audience__members.
    Read by a sync with source: {priority_list: <name>}. -#}
with

assignments as (
    select * from {{ ref('audience_priority_list_members') }}
),

members as (
    select * from {{ ref('sync_audience__members') }}
),

final as (
    select
        assignments.priority_list_name,
        assignments.audience_name,
        assignments.customer_id,
        assignments.priority_rank,
        assignments.is_holdout,
        assignments.is_global_holdout,
        members.email,
        members.phone,
        members.first_name,
        members.last_name,
        members.country_code,
        members.has_consent_email_marketing,
        members.has_consent_sms_marketing,
        members.has_consent_ads_personalisation,
        members.consent_basis_email_marketing,
        members.consent_basis_sms_marketing,
        members.consent_basis_ads_personalisation
    from assignments
    inner join members
        on
            assignments.audience_name = members.audience_name
            and assignments.customer_id = members.customer_id
)

select * from final
