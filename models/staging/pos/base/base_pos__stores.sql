with

source as (
    select * from {{ source('pos', 'stores') }}
),

renamed as (
    select
        store_id,
        {{ tessera.clean_text('store_name') }} as store_name,
        {{ tessera.clean_text('city') }} as city,
        {{ tessera.clean_text('region') }} as region,
        upper(trim(country)) as country_code,
        cast(latitude as {{ dbt.type_float() }}) as latitude,
        cast(longitude as {{ dbt.type_float() }}) as longitude,
        cast(_loaded_at as timestamp) as loaded_at
    from source
),

final as (
    select
        *,
        {{ tessera.quarantine_reason([
            ("store_id is null", "missing primary key"),
        ]) }} as quarantine_reason
    from renamed
)

select * from final
