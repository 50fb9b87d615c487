{#-
    Warehouses without dbt Python models: the pipeline builds everything up to the feature
    snapshots, runs the same scoring code (orchestration/predictions/scoring.py) against them and
    writes its output to <this>__python in the build schema, then builds this model and everything
    downstream (orchestration/build/outside_dbt.py, orchestration/predictions/external.py; docs/predictions.md).
-#}
-- depends_on: {{ ref('int_prediction_models') }}
{%- set written = tessera.python_step_table('predictions scoring') %}

with

scores as (
    select * from {{ written }}
),

final as (
    select
        customer_id,
        scored_set,
        is_evaluation_holdout,
        churn_probability,
        purchase_30d_probability,
        probability_alive,
        predicted_purchases_12m,
        predicted_value_12m,
        label_churned,
        label_purchased_30_days,
        label_revenue_365_days,
        model_version,
        cutoff_at
    from scores
)

select * from final
