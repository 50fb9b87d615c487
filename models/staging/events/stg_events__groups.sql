with

final as (
    {{ tessera.rows_passing_quarantine(ref('base_events__groups')) }}
)

select * from final
