with

source as (
    select * from {{ source('reference', 'weather_daily') }}
),

renamed as (
    select
        cast(weather_date as date) as weather_date,
        {{ tessera.clean_text('region') }} as region,
        cast(temperature_c as {{ dbt.type_float() }}) as temperature_c,
        cast(precipitation_mm as {{ dbt.type_float() }}) as precipitation_mm,
        lower(trim(condition)) as weather_condition,
        coalesce(precipitation_mm >= 1.0, false) as is_rainy_day,
        cast(_loaded_at as timestamp) as loaded_at
    from source
),

final as (
    select
        *,
        {{ tessera.quarantine_reason([
            ("weather_date is null", "missing weather_date"),
            ("region is null", "missing region"),
        ]) }} as quarantine_reason
    from renamed
)

select * from final
