with

source as (
    select * from {{ source('retained', 'events__tracks_daily') }}
),

final as (
    select
        cast(anonymous_id as varchar) as anonymous_id,
        cast(user_id as varchar) as user_id,
        cast(source_rows as bigint) as event_count,
        cast(products_viewed as bigint) as products_viewed,
        cast(distinct_products_viewed as bigint) as distinct_products_viewed,
        cast(products_added as bigint) as products_added,
        cast(orders_completed as bigint) as orders_completed,
        cast(revenue as double precision) as revenue,
        cast(visit_seconds as double precision) as visit_seconds,
        activity_date,
        aggregated_at
    from source
)

select * from final
