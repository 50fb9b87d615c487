{#- Each customer's consent per purpose now: the latest decision (see
    consent_history for the rule). -#}
with

consent_history as (
    select * from {{ ref('consent_history') }}
),

final as (
    select
        customer_id,
        consent_purpose,
        consent_status,
        consent_status = 'granted' as is_granted,
        consent_source,
        consent_event_id,
        valid_from as decided_at
    from consent_history
    where is_current
)

select * from final
