with

final as (
    {{ tessera.rows_passing_quarantine(
        ref('base_review__identity_review_decisions')
    ) }}
)

select * from final
