{#-
    Customers who abandoned a cart in the last 7 days and may be emailed.
    One row per customer with each condition, so membership can be explained.
-#}
with

traits as (
    select * from {{ ref('customer_traits') }}
),

events as (
    select * from {{ ref('events') }}
),

recent_cart_adds as (
    select
        events.customer_id,
        count(*) as recent_cart_adds
    from events
    cross join (select max(as_of) as as_of from traits) as reference_time
    where events.event_name in ('product_added', 'checkout_started')
        and events.occurred_at > {{ dbt.dateadd('day', -7, 'reference_time.as_of') }}
        and events.customer_id is not null
    group by 1
),

consent as (
    select customer_id, is_granted
    from {{ ref('consent_current') }}
    where consent_purpose = 'email_marketing'
),

conditions as (
    select
        traits.customer_id,
        coalesce(recent_cart_adds.recent_cart_adds, 0) > 0 as added_to_cart_in_last_7_days,
        traits.cart_abandonment_count > 0 as has_abandoned_a_cart,
        coalesce(consent.is_granted, false) as consented_to_email
    from traits
    left join recent_cart_adds
        on traits.customer_id = recent_cart_adds.customer_id
    left join consent
        on traits.customer_id = consent.customer_id
),

final as (
    select
        customer_id,
        added_to_cart_in_last_7_days,
        has_abandoned_a_cart,
        consented_to_email,
        added_to_cart_in_last_7_days and has_abandoned_a_cart and consented_to_email as is_member
    from conditions
)

select * from final
