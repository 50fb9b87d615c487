{#-
    Each weighed pair (int_identity__match_pairs) as the one record Splink's waterfall chart reads
    (`tessera review explain --html`): its comparison vector, each level's weight and term-frequency
    adjustment, and both records' compared values. A view: it is read one pair at a time, so the
    JSON is built on demand instead of for every pair on every build. The adjustment is the pair's
    weight for the comparison less its level's weight (int_identity__match_pairs adds the two).
-#}
{{ config(materialized='view') }}
{%- set comparisons = var('identity_match_comparisons') %}
{%- set compared_columns = [
    'first_name_key', 'first_name_formal', 'last_name_key', 'last_name_formal', 'date_of_birth',
    'email', 'phone', 'street_key', 'postcode',
] %}

with

pairs as (
    select * from {{ ref('int_identity__match_pairs') }}
),

candidates as (
    select * from {{ ref('int_identity__match_candidates') }}
),

features as (
    select * from {{ ref('int_identity__match_scored_features') }}
),

levels as (
    select * from {{ ref('int_identity__match_model') }}
),

splink_records as (
    select
        pairs.pair_id,
        pairs.unique_id_l,
        pairs.unique_id_r,
        pairs.source_name_l,
        pairs.table_name_l,
        pairs.record_id_l,
        pairs.source_name_r,
        pairs.table_name_r,
        pairs.record_id_r,
        pairs.names_compatible,
        pairs.has_independent_evidence,
        {%- for comparison in comparisons %}
            pairs.{{ comparison }}_level,
            pairs.{{ comparison }}_match_weight,
            candidates.{{ comparison }}_gamma as gamma_{{ comparison }},
            coalesce({{ comparison }}_level.match_weight, 0)
                as mw_{{ comparison }},
            pairs.{{ comparison }}_match_weight
            - coalesce({{ comparison }}_level.match_weight, 0)
                as mw_tf_adj_{{ comparison }},
        {%- endfor %}
        {%- for column in compared_columns %}
            features_l.{{ column }} as {{ column }}_l,
            features_r.{{ column }} as {{ column }}_r,
        {%- endfor %}
        pairs.match_weight,
        pairs.match_probability
    from pairs
    inner join candidates
        on pairs.pair_id = candidates.pair_id
    inner join features as features_l
        on pairs.unique_id_l = features_l.unique_id
    inner join features as features_r
        on pairs.unique_id_r = features_r.unique_id
    {%- for comparison in comparisons %}
        left join levels as {{ comparison }}_level
            on
                {{ comparison }}_level.comparison_name = '{{ comparison }}'
                and candidates.{{ comparison }}_gamma
                = {{ comparison }}_level.comparison_vector_value
    {%- endfor %}
),

final as (
    select
        splink_records.pair_id,
        {{ tessera.row_to_json('splink_records') }} as splink_record
    from splink_records
)

select * from final
