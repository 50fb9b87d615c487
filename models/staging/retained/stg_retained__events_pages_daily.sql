with

source as (
    select * from {{ source('retained', 'events__pages_daily') }}
),

final as (
    select
        cast(anonymous_id as {{ tessera.type_varchar() }}) as anonymous_id,
        cast(user_id as {{ tessera.type_varchar() }}) as user_id,
        cast(source_rows as bigint) as page_views,
        cast(distinct_pages as bigint) as distinct_pages,
        cast(visit_seconds as {{ tessera.type_double() }}) as visit_seconds,
        activity_date,
        first_seen_at,
        last_seen_at,
        aggregated_at
    from source
)

select * from final
