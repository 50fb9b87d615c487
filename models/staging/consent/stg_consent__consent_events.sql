with

final as (
    {{ tessera.rows_passing_quarantine(ref('base_consent__consent_events')) }}
)

select * from final
