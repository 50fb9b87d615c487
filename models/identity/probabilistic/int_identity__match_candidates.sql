{#-
    Every blocked pair of person records with its comparison vector, kept from build to build: the
    pre-hook (macros/identity/drop_stale_match_candidates.sql) drops the pairs of records that changed
    or went, or all of them under another model version, and this build's compared pairs
    (int_identity__match_compared) are appended. A first build or a full refresh holds what that
    build compared: every pair. int_identity__match_pairs weighs them all.
-#}
-- depends_on: {{ ref('int_identity__match_record_changes') }}
-- depends_on: {{ ref('int_identity__match_model') }}
{{ config(
    materialized='incremental',
    incremental_strategy='append',
    pre_hook="{{ tessera.drop_stale_match_candidates() }}",
) }}

with

compared as (
    select * from {{ ref('int_identity__match_compared') }}
),

final as (
    select
        pair_id,
        unique_id_l,
        unique_id_r,
        model_version,
        {%- for comparison in var('identity_match_comparisons') %}
            {{ comparison }}_gamma,
        {%- endfor %}
        names_compatible,
        has_independent_evidence
    from compared
)

select * from final
