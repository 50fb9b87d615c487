with

final as (
    {{ tessera.rows_passing_quarantine(ref('base_crm__contacts')) }}
)

select * from final
