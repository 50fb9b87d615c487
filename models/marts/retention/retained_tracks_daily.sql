{#- Track events (product views, adds, orders) kept as daily aggregates
    after their raw rows expired. -#}
with

tracks_daily as (
    select * from {{ ref('stg_retained__events_tracks_daily') }}
),

customer_identifiers as (
    select * from {{ ref('customer_identifiers') }}
),

final as (
    select
        coalesce(by_user.customer_id, by_device.customer_id) as customer_id,
        tracks_daily.anonymous_id,
        tracks_daily.user_id,
        tracks_daily.event_count,
        tracks_daily.products_viewed,
        tracks_daily.distinct_products_viewed,
        tracks_daily.products_added,
        tracks_daily.orders_completed,
        tracks_daily.revenue,
        tracks_daily.visit_seconds,
        tracks_daily.activity_date,
        tracks_daily.aggregated_at
    from tracks_daily
    left join customer_identifiers as by_user
        on
            by_user.identifier_type = 'shop_customer_id'
            and tracks_daily.user_id = by_user.identifier_value
    left join customer_identifiers as by_device
        on
            by_device.identifier_type = 'anonymous_id'
            and tracks_daily.anonymous_id = by_device.identifier_value
)

select * from final
