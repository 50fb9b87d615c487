{#-
    The prediction classifiers on warehouses without dbt Python models (Postgres): the pipeline's
    scoring step reuses the kept version or fits a new one (orchestration/predictions/external.py,
    the code duckdb/int_prediction_models.py runs) and writes <this>__python into the build schema;
    this model copies it.
-#}
-- depends_on: {{ ref('int_customer_features_snapshotted') }}
-- depends_on: {{ ref('int_prediction_model_kept') }}
{%- set written = tessera.python_step_table('predictions scoring') %}

with

models as (
    select * from {{ written }}
),

final as (
    select
        cast(model_version as {{ dbt.type_bigint() }}) as model_version,
        cast(trained_at as timestamp) as trained_at,
        cast(train_reason as {{ dbt.type_string() }}) as train_reason,
        cast(model_decision as {{ dbt.type_string() }}) as model_decision,
        cast(builds_used as {{ dbt.type_bigint() }}) as builds_used,
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
    from models
)

select * from final
