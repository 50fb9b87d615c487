{#-
    Every compared pair at or above the review threshold, with its match weight and probability and
    their breakdown per comparison, weighed here from its comparison vector
    (int_identity__match_candidates), the model's weights (int_identity__match_model) and this build's
    term frequencies, the way Splink's predict weighs it (splink/internals/predict.py and
    comparison_level.py): the prior's weight plus, per comparison, the weight of the level the pair
    fell in (0 for a null) plus, at an exact match adjusted for term frequency, log2(u of that level)
    - log2(the share of records with that value). A new record changes every value's share, so every
    pair is weighed again each build; only the comparison, the expensive part, is kept.
    Splink's waterfall chart reads the pair as one record, built on demand by the view
    int_identity__match_pair_records.
-#}
{%- set comparisons = var('identity_match_comparisons') %}
{%- set frequency_columns = var('identity_match_term_frequency_columns') %}
{%- set threshold = var('identity_match_review_threshold') | float %}
{%- set double = tessera.type_double() %}

with

candidates as (
    select * from {{ ref('int_identity__match_candidates') }}
),

{#- This build's match features (the snapshot the next build compares its records against). #}

features as (
    select * from {{ ref('int_identity__match_scored_features') }}
),

levels as (
    select * from {{ ref('int_identity__match_model') }}
),

fitted as (
    select
        max(model_version) as model_version,
        max(prior_match_weight) as prior_match_weight
    from levels
),

{%- for comparison, column in frequency_columns.items() %}

    {{ comparison }}_frequencies as (
        select
            {{ column }} as compared_value,
            cast(count(*) as {{ double }})
            / (select count({{ column }}) from features) as term_frequency
        from features
        where {{ column }} is not null
        group by 1
    ),
{%- endfor %}

weighed as (
    select
        candidates.pair_id,
        candidates.unique_id_l,
        candidates.unique_id_r,
        candidates.names_compatible,
        candidates.has_independent_evidence,
        fitted.prior_match_weight,
    {%- for comparison in comparisons %}
        candidates.{{ comparison }}_gamma,
        case
            when candidates.{{ comparison }}_gamma = -1 then 'null'
            else
                coalesce(
                    {{ comparison }}_level.level_label,
                    cast(
                        candidates.{{ comparison }}_gamma as {{ dbt.type_string() }}
                    )
                )
        end as {{ comparison }}_level,
        coalesce({{ comparison }}_level.match_weight, 0)
            as {{ comparison }}_level_weight,
    {%- if comparison in frequency_columns %}
        case
            when
                {{ comparison }}_level.has_tf_adjustments
                and {{ comparison }}_frequencies.term_frequency is not null
                then (
                    ln({{ comparison }}_level.u_probability)
                    - ln({{ comparison }}_frequencies.term_frequency)
                    ) / ln(2)
            else 0
        end as {{ comparison }}_tf_adjustment{{ ',' if not loop.last }}
    {%- else %}
        cast(0 as {{ double }})
            as {{ comparison }}_tf_adjustment{{ ',' if not loop.last }}
    {%- endif %}

    {%- endfor %}
    from candidates
    inner join fitted
        on candidates.model_version = fitted.model_version
    inner join features as features_l
        on candidates.unique_id_l = features_l.unique_id
    {%- for comparison in comparisons %}
        left join levels as {{ comparison }}_level
            on
                {{ comparison }}_level.comparison_name = '{{ comparison }}'
                and candidates.{{ comparison }}_gamma
                = {{ comparison }}_level.comparison_vector_value
        {%- if comparison in frequency_columns %}
            left join {{ comparison }}_frequencies
                on
                    features_l.{{ frequency_columns[comparison] }}
                    = {{ comparison }}_frequencies.compared_value
        {%- endif %}
    {%- endfor %}
),

totalled as (
    select
        *,
        prior_match_weight
        {%- for comparison in comparisons %}
            + ({{ comparison }}_level_weight + {{ comparison }}_tf_adjustment)
        {%- endfor %} as match_weight
    from weighed
),

{#- Splink keeps a pair when its weight reaches the threshold's (log2 of its odds). #}

kept as (
    select * from totalled
    where match_weight >= ln({{ threshold }} / (1 - {{ threshold }})) / ln(2)
),

final as (
    select
        kept.pair_id,
        kept.unique_id_l,
        kept.unique_id_r,
        features_l.source_name as source_name_l,
        features_l.table_name as table_name_l,
        features_l.record_id as record_id_l,
        features_r.source_name as source_name_r,
        features_r.table_name as table_name_r,
        features_r.record_id as record_id_r,
        kept.match_weight,
        case
            when kept.match_weight >= 0
                then
                    1.0
                    / (1.0 + power(cast(2 as {{ double }}), -kept.match_weight))
            else
                power(cast(2 as {{ double }}), kept.match_weight)
                / (1.0 + power(cast(2 as {{ double }}), kept.match_weight))
        end as match_probability,
        {%- for comparison in comparisons %}
            kept.{{ comparison }}_level,
        {%- endfor %}
        {%- for comparison in comparisons %}
            kept.{{ comparison }}_level_weight
            + kept.{{ comparison }}_tf_adjustment
                as {{ comparison }}_match_weight,
        {%- endfor %}
        kept.names_compatible,
        kept.has_independent_evidence
    from kept
    inner join features as features_l
        on kept.unique_id_l = features_l.unique_id
    inner join features as features_r
        on kept.unique_id_r = features_r.unique_id
)

select * from final
