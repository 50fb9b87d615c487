{#-
    Each customer's distance to every store. A customer is located at their home city (the golden
    record's city, geocoded by the city_locations seed); a customer with no known city is located at
    the store where they bought most often. Customers with neither have no rows: they are never
    "near" a store.
-#}
with

customers as (
    select * from {{ ref('customers') }}
),

orders as (
    select * from {{ ref('orders') }}
),

city_locations as (
    select * from {{ ref('city_locations') }}
),

stores as (
    select * from {{ ref('stg_pos__stores') }}
),

home_cities as (
    select
        customers.customer_id,
        city_locations.latitude,
        city_locations.longitude
    from customers
    inner join city_locations
        on
            lower(trim({{ tessera.strip_accents('customers.city') }}))
            = city_locations.city_key
            and upper(customers.country_code) = city_locations.country_code
),

store_visits as (
    select
        customer_id,
        store_id,
        row_number()
            over (
                partition by customer_id
                order by count(*) desc, max(ordered_at) desc, store_id
            )
            as visit_rank
    from orders
    where
        customer_id is not null
        and store_id is not null
    group by 1, 2
),

favourite_stores as (
    select
        store_visits.customer_id,
        stores.latitude,
        stores.longitude
    from store_visits
    inner join stores
        on store_visits.store_id = stores.store_id
    where store_visits.visit_rank = 1
),

located as (
    select
        customer_id,
        'home_city' as location_source,
        latitude,
        longitude
    from home_cities
    union all
    select
        favourite_stores.customer_id,
        'most_visited_store' as location_source,
        favourite_stores.latitude,
        favourite_stores.longitude
    from favourite_stores
    left join home_cities
        on favourite_stores.customer_id = home_cities.customer_id
    where home_cities.customer_id is null
),

final as (
    select
        located.customer_id,
        stores.store_id,
        located.location_source,
        {{ tessera.haversine_km(
            'located.latitude', 'located.longitude',
            'stores.latitude', 'stores.longitude'
        ) }} as distance_km
    from located
    cross join stores
    where
        located.latitude is not null
        and located.longitude is not null
        and stores.latitude is not null
        and stores.longitude is not null
)

select * from final
