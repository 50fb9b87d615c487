with

source as (
    select * from {{ source('reference', 'public_holidays') }}
),

renamed as (
    select
        cast(holiday_date as date) as holiday_date,
        upper(trim(country)) as country_code,
        {{ tessera.clean_text('region') }} as region,
        holiday_name,
        cast(_loaded_at as timestamp) as loaded_at
    from source
),

final as (
    select
        *,
        {{ tessera.quarantine_reason([
            ("holiday_date is null", "missing holiday_date"),
            ("country_code is null", "missing country"),
        ]) }} as quarantine_reason
    from renamed
)

select * from final
