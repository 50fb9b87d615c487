with

final as (
    {{ tessera.rows_passing_quarantine(ref('base_person_sources__external_ids')) }}
)

select * from final
