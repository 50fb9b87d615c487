{#-
    The pairs this build compares, on warehouses whose dbt runs no Python models (Postgres): the
    pipeline's identity matching step compares the pairs that touch a new or changed record, or every
    pair (orchestration/identity/external.py, the code duckdb/int_identity__match_compared.py runs),
    and writes <this>__python; this model copies it.
-#}
-- depends_on: {{ ref('int_identity__match_features') }}
-- depends_on: {{ ref('int_identity__match_record_changes') }}
-- depends_on: {{ ref('int_identity__match_model') }}
-- depends_on: {{ ref('int_identity__match_model_kept') }}
{%- set written = tessera.python_step_table('identity matching') %}

with

compared as (
    select * from {{ written }}
),

final as (
    select
        cast(pair_id as {{ dbt.type_string() }}) as pair_id,
        cast(unique_id_l as {{ dbt.type_string() }}) as unique_id_l,
        cast(unique_id_r as {{ dbt.type_string() }}) as unique_id_r,
        cast(model_version as {{ dbt.type_bigint() }}) as model_version,
        {%- for comparison in var('identity_match_comparisons') %}
        cast({{ comparison }}_gamma as {{ dbt.type_bigint() }}) as {{ comparison }}_gamma,
        {%- endfor %}
        cast(names_compatible as boolean) as names_compatible,
        cast(has_independent_evidence as boolean) as has_independent_evidence
    from compared
)

select * from final
