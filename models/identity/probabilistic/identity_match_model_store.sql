{#-
    Every kept version of the probabilistic matching model (one row each), carried from build to
    build (incremental, full_refresh: false, so a full refresh keeps the history and trains a new
    version). A build that trains adds a version; a build that reuses one replaces its row with the
    use counted (builds_used, last_used_at, last_decision = 'reused'). int_identity__match_model_kept
    reads the latest version back on the next build. docs/identity.md, "When models are retrained".
    A store kept by an earlier release gains new columns (append_new_columns); its old versions have
    them null (a null rules_fingerprint retrains once).
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
    select * from {{ ref('int_identity__match_model') }}
    where model_json is not null
),

final as (
    select
        cast('identity_match' as {{ dbt.type_string() }}) as model_kind,
        cast(model_version as {{ dbt.type_bigint() }}) as model_version,
        cast(trained_at as timestamp) as trained_at,
        cast(records as {{ dbt.type_bigint() }}) as training_records,
        cast(train_reason as {{ dbt.type_string() }}) as train_reason,
        cast(comparison_columns as {{ dbt.type_string() }}) as comparison_columns,
        cast(sources as {{ dbt.type_string() }}) as sources,
        cast(training_seconds as {{ tessera.type_double() }}) as training_seconds,
        cast(builds_used as {{ dbt.type_bigint() }}) as builds_used,
        cast(model_decision as {{ dbt.type_string() }}) as last_decision,
        cast('{{ invocation_id }}' as {{ dbt.type_string() }}) as last_build_id,
        cast({{ dbt.current_timestamp() }} as timestamp) as last_used_at,
        cast(untrained_levels as {{ dbt.type_string() }}) as untrained_levels,
        cast(model_json as {{ dbt.type_string() }}) as model_json,
        cast(rules_fingerprint as {{ dbt.type_string() }}) as rules_fingerprint
    from used
)

select * from final
