{#-
    What int_identity__match_model decides from (orchestration/identity/matching.py, train_or_reuse):
    one row with the retrain policy (vars identity_retrain, identity_retrain_record_drift,
    identity_retrain_max_age_days; env TESSERA_IDENTITY_RETRAIN, which `tessera run --retrain` sets;
    whether this is a full refresh) and the latest kept model version in identity_match_model_store
    as the last build left it (null columns when none is kept). The store is read by name, not by
    ref: it is downstream of this model (it keeps what int_identity__match_model used), and the
    build starts from the published state, so this reads the previous build's store.
-#}
{{ config(materialized='table') }}

{%- set store = adapter.get_relation(
    database=this.database,
    schema=this.schema,
    identifier='identity_match_model_store',
) if execute else none %}
{#- A store kept by an earlier release has no rules_fingerprint yet: read it as null. #}
{%- set store_columns = adapter.get_columns_in_relation(store)
    | map(attribute='name') | map('lower') | list
    if store is not none else [] %}
{%- set yes = ['true', '1', 'yes'] %}
{%- set requested = (var('identity_retrain') | string | lower in yes)
    or (env_var('TESSERA_IDENTITY_RETRAIN', '') | lower in yes) %}
{%- set double = tessera.type_double() %}

with

policy as (
    select
        {{ 'true' if requested else 'false' }} as retrain_requested,
        {{ 'true' if flags.FULL_REFRESH else 'false' }} as full_refresh,
        cast(
            {{ var('identity_retrain_record_drift') }} as {{ double }}
        ) as record_drift,
        cast(
            {{ var('identity_retrain_max_age_days') }} as {{ double }}
        ) as max_age_days
),

kept as (
    {%- if store is not none %}
    select
        model_version,
        trained_at,
        training_records,
        train_reason,
        comparison_columns,
        sources,
        builds_used,
        training_seconds,
        untrained_levels,
        model_json,
        {%- if 'rules_fingerprint' in store_columns %}
        rules_fingerprint
        {%- else %}
        cast(null as {{ dbt.type_string() }}) as rules_fingerprint
        {%- endif %}
    from {{ store }}
    where model_version = (select max(model_version) from {{ store }})
    {%- else %}
        select
            cast(null as {{ dbt.type_bigint() }}) as model_version,
            cast(null as timestamp) as trained_at,
            cast(null as {{ dbt.type_bigint() }}) as training_records,
            cast(null as {{ dbt.type_string() }}) as train_reason,
            cast(null as {{ dbt.type_string() }}) as comparison_columns,
            cast(null as {{ dbt.type_string() }}) as sources,
            cast(null as {{ dbt.type_bigint() }}) as builds_used,
            cast(null as {{ double }}) as training_seconds,
            cast(null as {{ dbt.type_string() }}) as untrained_levels,
            cast(null as {{ dbt.type_string() }}) as model_json,
            cast(null as {{ dbt.type_string() }}) as rules_fingerprint
        where 1 = 0
    {%- endif %}
),

final as (
    select
        policy.retrain_requested,
        policy.full_refresh,
        policy.record_drift,
        policy.max_age_days,
        kept.model_version,
        kept.trained_at,
        kept.training_records,
        kept.train_reason,
        kept.comparison_columns,
        kept.sources,
        kept.builds_used,
        kept.training_seconds,
        kept.untrained_levels,
        kept.model_json,
        kept.rules_fingerprint
    from policy
    left join kept on 1 = 1
)

select * from final
