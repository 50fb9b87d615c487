{#-
    Consent as history (SCD2): one row per consent decision per customer and purpose, valid from
    the decision until the next one. Conflicting sources resolve by recency: the latest decision
    wins, whichever system recorded it; two decisions at the same instant resolve to the more
    restrictive (withdrawn, then denied, then granted).

    Incremental (docs/sources.md, "The orders, order_items and consent marts, incrementally"): a
    customer's rows follow from all of that customer's decisions in order (valid_to is the next
    decision's time), so a build places again, and replaces by customer_id, the whole history of
    every customer whose decisions changed: the customers of a decision placed now that the mart does
    not hold as it is (new, changed, or now another customer's), and the customers of a row the mart
    holds that is no longer placed so (moved away, changed, or left staging). No load-time watermark:
    the decisions placed now are compared with the mart's. A full refresh and a restage place every
    decision (tessera.mart_kept); the customers left with no decision are removed (a post-hook).
-#}
{#- A table on Spark, whose plain tables cannot delete the rows of a customer
    left with no decision. #}
{{ config(
    materialized=tessera.deliveries_materialization(),
    incremental_strategy='delete+insert',
    unique_key=['customer_id'],
    on_schema_change='append_new_columns',
    post_hook="{{ tessera.consent_removed_upstream() }}",
) }}
{%- set incremental = tessera.mart_kept('consent decision') %}
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

{#- The decisions as the mart holds them and as they are placed now (the
    columns of `placed`, in its order): what differs names the customers
    whose history is placed again. #}
{%- if incremental %}
held as (
    select
        customer_id,
        consent_event_id,
        consent_purpose,
        consent_channel,
        consent_status,
        consent_source,
        subject_type,
        valid_from as occurred_at
    from {{ this }}
),

no_longer_placed as (
    select * from held
    except
    select * from placed
),

newly_placed as (
    select * from placed
    except
    select * from held
),

{% endif -%}
batch as (
    select * from placed
    {%- if incremental %}
    where customer_id in (
        select customer_id from no_longer_placed
        union all
        select customer_id from newly_placed
    )
    {%- endif %}
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
    from batch
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
