{#-
    Consent as history (SCD2): one row per consent decision per customer and purpose, valid from
    the decision until the next one. Conflicting sources resolve by recency: the latest decision
    wins, whichever system recorded it; two decisions at the same instant resolve to the more
    restrictive (withdrawn, then denied, then granted).
-#}
with

consent_events as (
    select * from {{ ref('stg_consent__consent_events') }}
),

customer_identifiers as (
    select * from {{ ref('customer_identifiers') }}
),

placed as (
    select
        customer_identifiers.customer_id,
        consent_events.consent_event_id,
        consent_events.consent_purpose,
        consent_events.consent_channel,
        consent_events.consent_status,
        consent_events.consent_source,
        consent_events.subject_type,
        consent_events.occurred_at
    from consent_events
    inner join customer_identifiers
        on
            consent_events.subject_type = customer_identifiers.identifier_type
            and consent_events.subject_value
            = customer_identifiers.identifier_value
),

ordered as (
    select
        *,
        row_number() over (
            partition by customer_id, consent_purpose
            order by
                occurred_at,
                case consent_status
                    when 'granted' then 1 when 'denied' then 2 else 3
                end,
                consent_event_id
        ) as decision_number
    from placed
),

final as (
    select
        ordered.customer_id,
        ordered.consent_purpose,
        ordered.consent_status,
        ordered.consent_channel,
        ordered.consent_source,
        ordered.consent_event_id,
        ordered.subject_type,
        ordered.occurred_at as valid_from,
        next_decision.occurred_at as valid_to,
        next_decision.occurred_at is null as is_current
    from ordered
    left join ordered as next_decision
        on
            ordered.customer_id = next_decision.customer_id
            and ordered.consent_purpose = next_decision.consent_purpose
            and next_decision.decision_number = ordered.decision_number + 1
)

select * from final
