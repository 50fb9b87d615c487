{#-
    The probabilistic matching model on warehouses whose dbt runs no Python models (Postgres): the
    pipeline builds up to int_identity__match_features, trains the same Splink model on those rows or
    reuses the kept one (orchestration/identity/external.py, the code duckdb/int_identity__match_model.py
    runs; int_identity__match_model_kept, identity_match_model_store), and
    writes <this>__python into the build schema; this model copies it, so both warehouses hold the
    same model for the same records. No rows below var identity_match_min_records, as on DuckDB.
-#}
-- depends_on: {{ ref('int_identity__match_features') }}
-- depends_on: {{ ref('int_identity__match_model_kept') }}
{%- set written = tessera.python_step_table('identity matching') %}

with

trained as (
    select * from {{ written }}
),

final as (
    select
        cast(comparison_name as {{ dbt.type_string() }}) as comparison_name,
        cast(comparison_vector_value as {{ dbt.type_bigint() }})
            as comparison_vector_value,
        cast(level_label as {{ dbt.type_string() }}) as level_label,
        cast(m_probability as {{ tessera.type_double() }}) as m_probability,
        cast(u_probability as {{ tessera.type_double() }}) as u_probability,
        cast(match_weight as {{ tessera.type_double() }}) as match_weight,
        cast(has_tf_adjustments as boolean) as has_tf_adjustments,
        cast(m_estimated as boolean) as m_estimated,
        cast(records as {{ dbt.type_bigint() }}) as records,
        cast(training_seconds as {{ tessera.type_double() }}) as training_seconds,
        cast(model_json as {{ dbt.type_string() }}) as model_json,
        cast(model_version as {{ dbt.type_bigint() }}) as model_version,
        cast(trained_at as timestamp) as trained_at,
        cast(train_reason as {{ dbt.type_string() }}) as train_reason,
        cast(model_decision as {{ dbt.type_string() }}) as model_decision,
        cast(builds_used as {{ dbt.type_bigint() }}) as builds_used,
        cast(comparison_columns as {{ dbt.type_string() }}) as comparison_columns,
        cast(sources as {{ dbt.type_string() }}) as sources,
        cast(untrained_levels as {{ dbt.type_string() }}) as untrained_levels,
        cast(rules_fingerprint as {{ dbt.type_string() }}) as rules_fingerprint,
        cast(prior_match_weight as {{ tessera.type_double() }}) as prior_match_weight
    from trained
)

select * from final
