{#-
    Every kept version of the prediction classifiers (churn, purchase in 30 days; one row each),
    carried from build to build (incremental, full_refresh: false, so a full refresh keeps the history
    and trains a new version). A build that trains adds a version; a build that reuses one replaces
    its row with the use counted (builds_used, last_used_at, last_decision = 'reused').
    int_prediction_model_kept reads the latest version back on the next build. The classifiers are
    kept in skops' form, base64 text (orchestration/predictions/kept.py; docs/predictions.md).
-#}
{{
    config(
        materialized='incremental',
        unique_key='model_version',
        incremental_strategy='delete+insert',
        full_refresh=false,
        on_schema_change='append_new_columns',
    )
}}

with

used as (
    select * from {{ ref('int_prediction_models') }}
    where model_version is not null
),

final as (
    select
        cast('predictions' as {{ dbt.type_string() }}) as model_kind,
        cast(model_version as {{ dbt.type_bigint() }}) as model_version,
        cast(trained_at as timestamp) as trained_at,
        cast(train_reason as {{ dbt.type_string() }}) as train_reason,
        cast(builds_used as {{ dbt.type_bigint() }}) as builds_used,
        cast(model_decision as {{ dbt.type_string() }}) as last_decision,
        cast('{{ invocation_id }}' as {{ dbt.type_string() }}) as last_build_id,
        cast({{ dbt.current_timestamp() }} as timestamp) as last_used_at,
        cast(training_rows as {{ dbt.type_bigint() }}) as training_rows,
        cast(churn_training_rows as {{ dbt.type_bigint() }})
            as churn_training_rows,
        cast(purchase_30d_training_rows as {{ dbt.type_bigint() }})
            as purchase_30d_training_rows,
        cast(training_seconds as {{ tessera.type_double() }}) as training_seconds,
        cast(definition_fingerprint as {{ dbt.type_string() }})
            as definition_fingerprint,
        cast(churn_model as {{ dbt.type_string() }}) as churn_model,
        cast(purchase_30d_model as {{ dbt.type_string() }}) as purchase_30d_model
    from used
)

select * from final
