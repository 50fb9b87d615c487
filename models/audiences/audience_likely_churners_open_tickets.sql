{#-
    Customers the churn model ranks among the most likely to churn (var likely_churner_percentile,
    80 = the top fifth of active customers) who have a support ticket still open: the ones a
    retention call can still save. One row per customer with each condition.
-#}
with

traits as (
    select * from {{ ref('customer_traits') }}
),

predictions as (
    select * from {{ ref('customer_predictions') }}
),

conditions as (
    select
        traits.customer_id,
        coalesce(predictions.churn_percentile >= {{ var('likely_churner_percentile', 80) }}, false) as is_likely_churner,
        coalesce(traits.open_support_tickets > 0, false) as has_open_support_ticket
    from traits
    left join predictions
        on traits.customer_id = predictions.customer_id
),

final as (
    select
        customer_id,
        is_likely_churner,
        has_open_support_ticket,
        is_likely_churner and has_open_support_ticket as is_member
    from conditions
)

select * from final
