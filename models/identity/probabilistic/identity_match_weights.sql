{#-
    Why a pair scored what it did: its match weight split into the prior and one row per
    comparison (the level it fell in and that level's weight, term-frequency adjustment included),
    for every pair the matcher kept. The weights add up to the pair's match_weight;
    match_probability = 2^w / (1 + 2^w).
-#}
with

pairs as (
    select * from {{ ref('int_identity__match_pairs') }}
),

links as (
    select * from {{ ref('int_identity__probabilistic_links') }}
),

comparison_weights as (
    {%- for comparison in var('identity_match_comparisons') %}
        select
            pair_id,
            '{{ comparison }}' as comparison_name,
            {{ comparison }}_level as comparison_level,
            {{ comparison }}_match_weight as match_weight,
            {{ loop.index }} as comparison_order
        from pairs
        union all
    {%- endfor %}
    select
        pair_id,
        'prior' as comparison_name,
        'probability that two random records match' as comparison_level,
        match_weight
        {%- for comparison in var('identity_match_comparisons') %}
            - {{ comparison }}_match_weight
        {%- endfor %} as match_weight,
        0 as comparison_order
    from pairs
),

final as (
    select
        comparison_weights.pair_id,
        comparison_weights.comparison_name,
        comparison_weights.comparison_level,
        links.link_status,
        comparison_weights.match_weight,
        comparison_weights.comparison_order
    from comparison_weights
    inner join links
        on comparison_weights.pair_id = links.pair_id
)

select * from final
