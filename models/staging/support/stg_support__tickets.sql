with

final as (
    {{ tessera.rows_passing_quarantine(ref('base_support__tickets')) }}
)

select * from final
