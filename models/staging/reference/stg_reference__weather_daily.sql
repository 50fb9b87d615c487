with

final as (
    {{ tessera.rows_passing_quarantine(ref('base_reference__weather_daily')) }}
)

select * from final
