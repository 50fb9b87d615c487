{#-
    One row per customer: churn propensity, likelihood to purchase in the next 30 days and predicted
    12-month value, each with its percentile among the customers scored (0 = lowest, 100 = highest).
    A null score means the customer is outside that model's population (docs/predictions.md).
-#}
with

scores as (
    select * from {{ ref('int_customer_features_scored') }}
    where scored_set = 'current'
),

training_cutoff as (
    select max(cutoff_at) as training_cutoff_at
    from {{ ref('int_customer_features_scored') }}
    where scored_set = 'evaluation'
),

ranked as (
    select
        scores.*,
        case
            when scores.churn_probability is not null then
                percent_rank()
                    over (
                        partition by scores.churn_probability is null
                        order by scores.churn_probability
                    )
        end as churn_rank,
        case
            when scores.purchase_30d_probability is not null then
                percent_rank()
                    over (
                        partition by scores.purchase_30d_probability is null
                        order by scores.purchase_30d_probability
                    )
        end as purchase_rank,
        case
            when scores.predicted_value_12m is not null then
                percent_rank()
                    over (
                        partition by scores.predicted_value_12m is null
                        order by scores.predicted_value_12m
                    )
        end as value_rank
    from scores
),

final as (
    select
        ranked.customer_id,
        ranked.model_version,
        cast(ranked.churn_probability as {{ tessera.type_double() }}) as churn_probability,
        cast(floor(100 * ranked.churn_rank) as integer) as churn_percentile,
        cast(ranked.purchase_30d_probability as {{ tessera.type_double() }})
            as purchase_30d_probability,
        cast(floor(100 * ranked.purchase_rank) as integer)
            as purchase_30d_percentile,
        cast(ranked.probability_alive as {{ tessera.type_double() }}) as probability_alive,
        cast(ranked.predicted_purchases_12m as {{ tessera.type_double() }})
            as predicted_purchases_12m,
        cast(ranked.predicted_value_12m as numeric(18, 2))
            as predicted_value_12m,
        cast(floor(100 * ranked.value_rank) as integer)
            as predicted_value_12m_percentile,
        training_cutoff.training_cutoff_at,
        ranked.cutoff_at as scored_at
    from ranked
    cross join training_cutoff
)

select * from final
