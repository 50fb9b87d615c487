with

final as (
    {{ tessera.rows_passing_quarantine(ref('base_support__survey_responses')) }}
)

select * from final
