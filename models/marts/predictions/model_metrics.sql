{#-
    How good each prediction model is, per build: AUC, lift by decile and calibration by decile on
    the evaluation set (customers the classifiers did not train on, as of the training cut-off,
    against what they did afterwards), plus row counts and the training and scoring dates.
    Deciles are of the predicted score, highest first; ties are broken by customer_id.
    Appended on every build (never rebuilt), so a model's quality can be followed over time.
    The classifiers' rows say which kept version scored (model_version), when and why it was trained,
    and whether this build trained or reused it (int_prediction_models, prediction_model_store). A
    reused version is measured on this build's holdout, which it never trained on either.
    The probabilistic identity matching model (model_name identity_match) gets a row per build too:
    the kept version the build scored with, when and on how many rows it was trained, why (first,
    forced, full refresh, or which drift), and whether this build trained it or reused it
    (model_decision; identity_match_model_store, docs/identity.md "When models are retrained").
-#}
{{
    config(
        materialized='incremental',
        incremental_strategy='append',
        full_refresh=false,
        on_schema_change='append_new_columns',
    )
}}

with

scores as (
    select * from {{ ref('int_customer_features_scored') }}
),

{# The classifier version this build scored with (kept or trained by it; one row, with a null
   version when too few rows trained nothing). #}
prediction_models as (
    select
        model_version,
        trained_at,
        train_reason,
        model_decision,
        builds_used,
        churn_training_rows,
        purchase_30d_training_rows
    from {{ ref('int_prediction_models') }}
),

{# The matching model version this build scored with (its own model table: on Postgres the store
   and this model are built by different dbt invocations). #}
identity_models as (
    select
        model_version,
        trained_at,
        records as training_records,
        train_reason,
        model_decision as last_decision,
        builds_used
    from {{ ref('int_identity__match_model') }}
    where model_json is not null
),

evaluation as (
    select * from scores
    where scored_set = 'evaluation'
),

{# (model, score, outcome, is_training_row) per customer the model scores. #}
outcomes as (
    select
        'churn' as model_name,
        customer_id,
        churn_probability as score,
        case when label_churned then 1.0 else 0.0 end as outcome,
        not is_evaluation_holdout as is_training_row
    from evaluation
    where churn_probability is not null
    union all
    select
        'purchase_30d' as model_name,
        customer_id,
        purchase_30d_probability as score,
        case when label_purchased_30_days then 1.0 else 0.0 end as outcome,
        not is_evaluation_holdout as is_training_row
    from evaluation
    where purchase_30d_probability is not null
    union all
    -- BG/NBD and Gamma-Gamma never see the labels, so every buyer is an
    -- evaluation row.

    select
        'value_12m' as model_name,
        customer_id,
        predicted_value_12m as score,
        label_revenue_365_days as outcome,
        false as is_training_row
    from evaluation
    where predicted_value_12m is not null
),

held_out as (
    select
        outcomes.*,
        ntile(10)
            over (
                partition by outcomes.model_name
                order by outcomes.score desc, outcomes.customer_id asc
            )
            as decile,
        rank()
            over (partition by outcomes.model_name order by outcomes.score)
            as score_rank,
        count(*)
            over (partition by outcomes.model_name, outcomes.score)
            as tie_count
    from outcomes
    where not outcomes.is_training_row
),

totals as (
    select
        model_name,
        count(*) as row_count,
        avg(outcome) as outcome_mean,
        sum(case when outcome > 0 then 1 else 0 end) as positives,
        sum(case when outcome > 0 then 0 else 1 end) as negatives,
        {#- Mann-Whitney: ties get the average of the ranks they span. -#}
        
        sum(
            case
                when outcome > 0 then score_rank + (tie_count - 1) / 2.0 else 0
            end
        ) as positive_rank_sum
    from held_out
    group by 1
),

deciles as (
    select
        model_name,
        decile,
        count(*) as row_count,
        avg(score) as predicted_mean,
        avg(outcome) as observed_mean
    from held_out
    group by 1, 2
),

{# The rows each classifier was fitted on: the kept version's count when it was kept (it may have
   been fitted by an earlier build), else this build's evaluation rows outside the holdout. #}
training_rows as (
    select
        outcomes.model_name,
        coalesce(
            max(
                case outcomes.model_name
                    when 'churn' then prediction_models.churn_training_rows
                    when 'purchase_30d'
                        then prediction_models.purchase_30d_training_rows
                end
            ),
            count(*)
        ) as row_count
    from outcomes
    left join prediction_models on prediction_models.model_version is not null
    where outcomes.is_training_row
    group by 1
),

current_rows as (
    select
        'churn' as model_name,
        count(churn_probability) as row_count
    from scores
    where scored_set = 'current'
    union all
    select
        'purchase_30d' as model_name,
        count(purchase_30d_probability) as row_count
    from scores
    where scored_set = 'current'
    union all
    select
        'value_12m' as model_name,
        count(predicted_value_12m) as row_count
    from scores
    where scored_set = 'current'
),

dates as (
    select
        max(case when scored_set = 'evaluation' then cutoff_at end)
            as training_cutoff_at,
        max(case when scored_set = 'current' then cutoff_at end) as scored_at,
        max(model_version) as model_version
    from scores
),

metrics as (
    select
        model_name,
        'auc' as metric_name,
        cast(null as integer) as decile,
        case
            when
                model_name <> 'value_12m' and positives > 0 and negatives > 0
                then
                    (positive_rank_sum - positives * (positives + 1) / 2.0)
                    / (positives * negatives)
        end as metric_value,
        row_count
    from totals
    where model_name <> 'value_12m'
    union all
    select
        model_name,
        'outcome_mean' as metric_name,
        null as decile,
        outcome_mean as metric_value,
        row_count
    from totals
    union all
    select
        deciles.model_name,
        'lift' as metric_name,
        deciles.decile,
        deciles.observed_mean / nullif(totals.outcome_mean, 0) as metric_value,
        deciles.row_count
    from deciles
    inner join totals
        on deciles.model_name = totals.model_name
    union all
    select
        model_name,
        'calibration_predicted' as metric_name,
        decile,
        predicted_mean as metric_value,
        row_count
    from deciles
    union all
    select
        model_name,
        'calibration_observed' as metric_name,
        decile,
        observed_mean as metric_value,
        row_count
    from deciles
    union all
    select
        model_name,
        'training_rows' as metric_name,
        null as decile,
        cast(row_count as {{ tessera.type_double() }}) as metric_value,
        row_count
    from training_rows
    union all
    select
        'churn' as model_name,
        'builds_used' as metric_name,
        null as decile,
        cast(builds_used as {{ tessera.type_double() }}) as metric_value,
        churn_training_rows as row_count
    from prediction_models
    where model_version is not null
    union all
    select
        'purchase_30d' as model_name,
        'builds_used' as metric_name,
        null as decile,
        cast(builds_used as {{ tessera.type_double() }}) as metric_value,
        purchase_30d_training_rows as row_count
    from prediction_models
    where model_version is not null
    union all
    select
        model_name,
        'scored_rows' as metric_name,
        null as decile,
        cast(row_count as {{ tessera.type_double() }}) as metric_value,
        row_count
    from current_rows
),

identity_metrics as (
    select
        model_version,
        'training_rows' as metric_name,
        cast(training_records as {{ tessera.type_double() }}) as metric_value,
        training_records as row_count,
        trained_at,
        train_reason,
        last_decision
    from identity_models
    union all
    select
        model_version,
        'builds_used' as metric_name,
        cast(builds_used as {{ tessera.type_double() }}) as metric_value,
        training_records as row_count,
        trained_at,
        train_reason,
        last_decision
    from identity_models
),

final as (
    select
        '{{ invocation_id }}' as build_id,
        metrics.model_name,
        dates.model_version,
        metrics.metric_name,
        cast(metrics.decile as integer) as decile,
        cast(metrics.metric_value as {{ tessera.type_double() }}) as metric_value,
        cast(metrics.row_count as bigint) as row_count,
        dates.training_cutoff_at,
        dates.scored_at,
        cast({{ dbt.current_timestamp() }} as timestamp) as built_at,
        cast(
            case
                when metrics.model_name <> 'value_12m'
                    then prediction_models.trained_at
            end as timestamp
        ) as trained_at,
        cast(
            case
                when metrics.model_name <> 'value_12m'
                    then prediction_models.train_reason
            end as {{ dbt.type_string() }}
        ) as train_reason,
        cast(
            case
                when metrics.model_name <> 'value_12m'
                    then prediction_models.model_decision
            end as {{ dbt.type_string() }}
        ) as model_decision
    from metrics
    cross join dates
    left join prediction_models on prediction_models.model_version is not null
    union all
    select
        '{{ invocation_id }}' as build_id,
        'identity_match' as model_name,
        cast(model_version as {{ dbt.type_string() }}) as model_version,
        metric_name,
        cast(null as integer) as decile,
        cast(metric_value as {{ tessera.type_double() }}) as metric_value,
        cast(row_count as bigint) as row_count,
        cast(null as timestamp) as training_cutoff_at,
        cast(null as timestamp) as scored_at,
        cast({{ dbt.current_timestamp() }} as timestamp) as built_at,
        cast(trained_at as timestamp) as trained_at,
        cast(train_reason as {{ dbt.type_string() }}) as train_reason,
        cast(last_decision as {{ dbt.type_string() }}) as model_decision
    from identity_metrics
)

select * from final
