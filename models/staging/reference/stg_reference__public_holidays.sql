with

final as (
    {{ tessera.rows_passing_quarantine(
        ref('base_reference__public_holidays')
    ) }}
)

select * from final
