with

final as (
    {{ tessera.rows_passing_quarantine(ref('base_esp__email_events')) }}
)

select * from final
