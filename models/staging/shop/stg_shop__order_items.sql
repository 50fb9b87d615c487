with

final as (
    {{ tessera.rows_passing_quarantine(ref('base_shop__order_items')) }}
)

select * from final
