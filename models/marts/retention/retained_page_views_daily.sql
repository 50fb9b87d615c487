{#- Page views kept as daily aggregates after their raw rows expired, with
    the customer they belong to. -#}
with

pages_daily as (
    select * from {{ ref('stg_retained__events_pages_daily') }}
),

customer_identifiers as (
    select * from {{ ref('customer_identifiers') }}
),

final as (
    select
        coalesce(by_user.customer_id, by_device.customer_id) as customer_id,
        pages_daily.anonymous_id,
        pages_daily.user_id,
        pages_daily.page_views,
        pages_daily.distinct_pages,
        pages_daily.visit_seconds,
        pages_daily.activity_date,
        pages_daily.first_seen_at,
        pages_daily.last_seen_at,
        pages_daily.aggregated_at
    from pages_daily
    left join customer_identifiers as by_user
        on
            by_user.identifier_type = 'shop_customer_id'
            and pages_daily.user_id = by_user.identifier_value
    left join customer_identifiers as by_device
        on
            by_device.identifier_type = 'anonymous_id'
            and pages_daily.anonymous_id = by_device.identifier_value
)

select * from final
