with

final as (
    {{ tessera.rows_passing_quarantine(ref('base_shop__customers')) }}
)

select * from final
