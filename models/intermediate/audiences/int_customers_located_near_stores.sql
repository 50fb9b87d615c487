{#-
    Each customer's distance to every store, from the customer's home city (the golden record's
    city, geocoded by the city_locations seed) to the store's coordinates. Customers whose city is
    unknown or not in the seed have no rows: they are never "near" a store.
-#}
with

customers as (
    select * from {{ ref('customers') }}
),

city_locations as (
    select * from {{ ref('city_locations') }}
),

stores as (
    select * from {{ ref('stg_pos__stores') }}
),

customers_geocoded as (
    select
        customers.customer_id,
        city_locations.city_name,
        city_locations.latitude,
        city_locations.longitude
    from customers
    inner join city_locations
        on lower(trim({{ tessera.strip_accents('customers.city') }})) = city_locations.city_key
        and upper(customers.country_code) = city_locations.country_code
),

final as (
    select
        customers_geocoded.customer_id,
        stores.store_id,
        customers_geocoded.city_name as home_city,
        {{ tessera.haversine_km(
            'customers_geocoded.latitude', 'customers_geocoded.longitude',
            'stores.latitude', 'stores.longitude'
        ) }} as distance_km
    from customers_geocoded
    cross join stores
    where stores.latitude is not null
        and stores.longitude is not null
)

select * from final
