with

source as (
    select * from {{ source('retained', 'events__tracks_daily') }}
),

final as (
    select
        cast(anonymous_id as {{ tessera.type_varchar() }}) as anonymous_id,
        cast(user_id as {{ tessera.type_varchar() }}) as user_id,
        cast(source_rows as bigint) as event_count,
        cast(products_viewed as bigint) as products_viewed,
        cast(distinct_products_viewed as bigint) as distinct_products_viewed,
        cast(products_added as bigint) as products_added,
        cast(orders_completed as bigint) as orders_completed,
        cast(revenue as {{ tessera.type_double() }}) as revenue,
        cast(visit_seconds as {{ tessera.type_double() }}) as visit_seconds,
        activity_date,
        aggregated_at
    from source
)

select * from final
