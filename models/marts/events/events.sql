{#-
    Every behavioural event on one timeline, with the customer it belongs to: web and app tracks,
    page views and identify calls, email engagement, and store purchases. A web or app event
    belongs to the customer of its user_id when logged in, else of its device (anonymous_id); an
    event on a refused device (a shop kiosk) with no login stays unattributed (customer_id null).
-#}
with

tracks as (
    select * from {{ ref('stg_events__tracks') }}
),

pages as (
    select * from {{ ref('stg_events__pages') }}
),

identifies as (
    select * from {{ ref('stg_events__identifies') }}
),

email_events as (
    select * from {{ ref('stg_esp__email_events') }}
),

pos_transactions as (
    select * from {{ ref('stg_pos__transactions') }}
),

customer_identifiers as (
    select * from {{ ref('customer_identifiers') }}
),

customer_source_records as (
    select * from {{ ref('customer_source_records') }}
),

web_and_app as (
    select
        message_id as event_id,
        'events' as source_name,
        event_channel,
        event_name,
        anonymous_id,
        user_id,
        product_id,
        product_category,
        order_id,
        revenue,
        utm_source,
        utm_campaign,
        occurred_at
    from tracks
    union all
    select
        message_id as event_id,
        'events' as source_name,
        event_channel,
        'page_viewed' as event_name,
        anonymous_id,
        user_id,
        null as product_id,
        null as product_category,
        null as order_id,
        null as revenue,
        utm_source,
        utm_campaign,
        occurred_at
    from pages
    union all
    select
        message_id as event_id,
        'events' as source_name,
        event_channel,
        'identified' as event_name,
        anonymous_id,
        user_id,
        null as product_id,
        null as product_category,
        null as order_id,
        null as revenue,
        utm_source,
        utm_campaign,
        occurred_at
    from identifies
),

web_and_app_placed as (
    select
        web_and_app.*,
        coalesce(by_user.customer_id, by_device.customer_id) as customer_id
    from web_and_app
    left join customer_identifiers as by_user
        on
            by_user.identifier_type = 'shop_customer_id'
            and web_and_app.user_id = by_user.identifier_value
    left join customer_identifiers as by_device
        on
            by_device.identifier_type = 'anonymous_id'
            and web_and_app.anonymous_id = by_device.identifier_value
),

email_placed as (
    select
        email_events.email_event_id as event_id,
        'esp' as source_name,
        'email' as event_channel,
        'email_' || email_events.email_event_type as event_name,
        customer_identifiers.customer_id,
        email_events.campaign_name as utm_campaign,
        email_events.occurred_at
    from email_events
    left join customer_identifiers
        on
            customer_identifiers.identifier_type = 'email'
            and email_events.email = customer_identifiers.identifier_value
),

store_placed as (
    select
        pos_transactions.transaction_id as event_id,
        'pos' as source_name,
        'store' as event_channel,
        'store_purchase' as event_name,
        customer_source_records.customer_id,
        pos_transactions.amount as revenue,
        pos_transactions.transacted_at as occurred_at
    from pos_transactions
    left join customer_source_records
        on
            customer_source_records.source_name = 'pos'
            and customer_source_records.table_name = 'transactions'
            and pos_transactions.transaction_id
            = customer_source_records.record_id
),

final as (
    select
        event_id,
        source_name,
        customer_id,
        event_channel,
        event_name,
        anonymous_id,
        product_id,
        product_category,
        order_id,
        cast(revenue as numeric(18, 2)) as revenue,
        utm_source,
        utm_campaign,
        occurred_at
    from web_and_app_placed
    union all
    select
        event_id,
        source_name,
        customer_id,
        event_channel,
        event_name,
        null as anonymous_id,
        null as product_id,
        null as product_category,
        null as order_id,
        null as revenue,
        null as utm_source,
        utm_campaign,
        occurred_at
    from email_placed
    union all
    select
        event_id,
        source_name,
        customer_id,
        event_channel,
        event_name,
        null as anonymous_id,
        null as product_id,
        null as product_category,
        null as order_id,
        cast(revenue as numeric(18, 2)) as revenue,
        null as utm_source,
        null as utm_campaign,
        occurred_at
    from store_placed
)

select * from final
