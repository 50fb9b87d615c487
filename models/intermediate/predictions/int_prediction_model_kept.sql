{#-
    What int_prediction_models decides from (orchestration/predictions/kept.py): one row with the
    retrain policy (vars predictions_retrain, predictions_retrain_row_drift,
    predictions_retrain_max_age_days; env TESSERA_PREDICTIONS_RETRAIN, which `tessera run --retrain`
    sets; whether this is a full refresh) and the latest kept version in prediction_model_store as the
    last build left it (null columns when none is kept). The store is read by name, not by ref: it is
    downstream of this model, and the build starts from the published state, so this reads the
    previous build's store (as int_identity__match_model_kept does for the matching model).
-#}
{{ config(materialized='table') }}

{%- set store = adapter.get_relation(
    database=this.database,
    schema=this.schema,
    identifier='prediction_model_store',
) if execute else none %}
{%- set yes = ['true', '1', 'yes'] %}
{%- set requested = (var('predictions_retrain') | string | lower in yes)
    or (env_var('TESSERA_PREDICTIONS_RETRAIN', '') | lower in yes) %}
{%- set text = dbt.type_string() %}
{%- set bigint = dbt.type_bigint() %}
{%- set double = tessera.type_double() %}

with

policy as (
    select
        {{ 'true' if requested else 'false' }} as retrain_requested,
        {{ 'true' if flags.FULL_REFRESH else 'false' }} as full_refresh,
        cast(
            {{ var('predictions_retrain_row_drift') }} as {{ double }}
        ) as row_drift,
        cast(
            {{ var('predictions_retrain_max_age_days') }} as {{ double }}
        ) as max_age_days
),

kept as (
    {%- if store is not none %}
    select
        model_version,
        trained_at,
        train_reason,
        builds_used,
        training_rows,
        churn_training_rows,
        purchase_30d_training_rows,
        training_seconds,
        definition_fingerprint,
        churn_model,
        purchase_30d_model
    from {{ store }}
    where model_version = (select max(model_version) from {{ store }})
    {%- else %}
        select
            cast(null as {{ bigint }}) as model_version,
            cast(null as timestamp) as trained_at,
            cast(null as {{ text }}) as train_reason,
            cast(null as {{ bigint }}) as builds_used,
            cast(null as {{ bigint }}) as training_rows,
            cast(null as {{ bigint }}) as churn_training_rows,
            cast(null as {{ bigint }}) as purchase_30d_training_rows,
            cast(null as {{ double }}) as training_seconds,
            cast(null as {{ text }}) as definition_fingerprint,
            cast(null as {{ text }}) as churn_model,
            cast(null as {{ text }}) as purchase_30d_model
        where 1 = 0
    {%- endif %}
),

final as (
    select
        policy.retrain_requested,
        policy.full_refresh,
        policy.row_drift,
        policy.max_age_days,
        kept.model_version,
        kept.trained_at,
        kept.train_reason,
        kept.builds_used,
        kept.training_rows,
        kept.churn_training_rows,
        kept.purchase_30d_training_rows,
        kept.training_seconds,
        kept.definition_fingerprint,
        kept.churn_model,
        kept.purchase_30d_model
    from policy
    left join kept on 1 = 1
)

select * from final
