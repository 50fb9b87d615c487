{#-
    Every behavioural event on one timeline, with the customer it belongs to: web and app tracks,
    page views and identify calls, email engagement, and store purchases. A web or app event
    belongs to the customer of its user_id when logged in, else of its device (anonymous_id); an
    event on a refused device (a shop kiosk) with no login stays unattributed (customer_id null).

    Incremental (docs/sources.md, "The events mart, incrementally"): a build places again, and
    replaces by (source_name, event_id), only
    - the events loaded since the last build, less var events_lookback_hours (tessera.is_new_row);
    - the events of the identifiers whose customer changed in this build (a merge, a split, an
      identifier new to the graph or retired from it: customer_id_map's rows of this invocation);
    - the store purchases whose record's customer (customer_source_records) differs from the mart's.
    A full refresh, a restage and a table without loaded_at place every event (tessera.mart_kept);
    the events no longer in staging are removed after an incremental build (a post-hook).
-#}
{#- A table on Spark, whose plain tables cannot delete the events removed upstream. #}
{{ config(
    materialized=tessera.deliveries_materialization(),
    incremental_strategy='delete+insert',
    unique_key=['source_name', 'event_id'],
    on_schema_change='append_new_columns',
    post_hook="{{ tessera.events_removed_upstream() }}",
) }}
{%- set incremental = tessera.mart_kept('event', required_column='loaded_at') %}
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

customer_id_map as (
    select * from {{ ref('customer_id_map') }}
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
        occurred_at,
        loaded_at
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
        occurred_at,
        loaded_at
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
        occurred_at,
        loaded_at
    from identifies
),

{#- What the identity of this build changed: the identifiers whose customer is not the one the
    previous build gave them (merged, split off, new to the graph, or retired from it). #}
changed_identifiers as (
    {%- if incremental %}
    select
        identifier_type,
        identifier_value
    from customer_id_map
    where
        build_id = '{{ invocation_id }}'
        and (
            not is_active
            or previous_customer_id is null
            or previous_customer_id <> customer_id
        )
    {%- else %}
    select
        cast(null as {{ dbt.type_string() }}) as identifier_type,
        cast(null as {{ dbt.type_string() }}) as identifier_value
    where 1 = 0
    {%- endif %}
),

{#- The store purchases whose record now belongs to another customer than the mart says. #}
moved_transactions as (
    {%- if incremental %}
    select placed.event_id
    from {{ this }} as placed
    left join customer_source_records
        on
            customer_source_records.source_name = 'pos'
            and customer_source_records.table_name = 'transactions'
            and placed.event_id = customer_source_records.record_id
    where
        placed.source_name = 'pos'
        and coalesce(placed.customer_id, '')
        <> coalesce(customer_source_records.customer_id, '')
    {%- else %}
    select cast(null as {{ dbt.type_string() }}) as event_id
    where 1 = 0
    {%- endif %}
),

{#- Every event of a message id any of whose events is placed again: a key is replaced whole. #}
web_and_app_batch as (
    select * from web_and_app
    {%- if incremental %}
    where event_id in (
        select event_id from web_and_app
        where
            {{ tessera.is_new_row('loaded_at', 'events') }}
            or user_id in (
                select identifier_value from changed_identifiers
                where identifier_type = 'shop_customer_id'
            )
            or anonymous_id in (
                select identifier_value from changed_identifiers
                where identifier_type = 'anonymous_id'
            )
    )
    {%- endif %}
),

email_batch as (
    select * from email_events
    {%- if incremental %}
    where email_event_id in (
        select email_event_id from email_events
        where
            {{ tessera.is_new_row('loaded_at', 'esp') }}
            or email in (
                select identifier_value from changed_identifiers
                where identifier_type = 'email'
            )
    )
    {%- endif %}
),

pos_batch as (
    select * from pos_transactions
    {%- if incremental %}
    where transaction_id in (
        select transaction_id from pos_transactions
        where
            {{ tessera.is_new_row('loaded_at', 'pos') }}
            or transaction_id in (select event_id from moved_transactions)
    )
    {%- endif %}
),

web_and_app_placed as (
    select
        web_and_app.*,
        coalesce(by_user.customer_id, by_device.customer_id) as customer_id
    from web_and_app_batch as web_and_app
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
        email_events.occurred_at,
        email_events.loaded_at
    from email_batch as email_events
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
        pos_transactions.transacted_at as occurred_at,
        pos_transactions.loaded_at
    from pos_batch as pos_transactions
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
        occurred_at,
        loaded_at
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
        occurred_at,
        loaded_at
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
        occurred_at,
        loaded_at
    from store_placed
)

select * from final
