with

final as (
    {{ tessera.rows_passing_quarantine(ref('base_pos__stores')) }}
)

select * from final
