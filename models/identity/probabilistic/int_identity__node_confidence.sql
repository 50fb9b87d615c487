{#-
    How sure identity is that an identifier belongs to its customer, for the identifiers that only a
    probabilistic link attached. A customer's main part is its largest deterministic component
    (identifiers joined by shared records, confidence 1.0); every other deterministic component in
    it joined through an accepted link, and takes the highest confidence of the links that touch it
    (the match probability, or 1.0 for a reviewer's acceptance). Identifiers of the main part are
    not listed: their confidence is 1.0.
-#}
with

deterministic_components as (
    select * from {{ ref('int_identity__deterministic_components') }}
),

components as (
    select * from {{ ref('int_identity__components') }}
),

probabilistic_edges as (
    select * from {{ ref('int_identity__probabilistic_edges') }}
),

parts as (
    select
        components.component_id,
        deterministic_components.deterministic_component_id,
        count(*) as part_nodes
    from components
    inner join deterministic_components
        on components.node_id = deterministic_components.node_id
    group by 1, 2
),

ranked_parts as (
    select
        *,
        row_number() over (
            partition by component_id
            order by part_nodes desc, deterministic_component_id asc
        ) as part_rank
    from parts
),

edge_ends as (
    select
        node_id_a as node_id,
        link_rule,
        confidence
    from probabilistic_edges
    union all
    select
        node_id_b as node_id,
        link_rule,
        confidence
    from probabilistic_edges
),

part_links as (
    select
        deterministic_components.deterministic_component_id,
        max(edge_ends.confidence) as confidence,
        min(edge_ends.link_rule) as link_rule
    from edge_ends
    inner join deterministic_components
        on edge_ends.node_id = deterministic_components.node_id
    group by 1
),

final as (
    select
        deterministic_components.node_id,
        'link:' || coalesce(part_links.link_rule, 'probabilistic') as placed_by,
        cast(coalesce(part_links.confidence, 0.0) as {{ tessera.type_double() }})
            as confidence
    from deterministic_components
    inner join ranked_parts
        on
            deterministic_components.deterministic_component_id
            = ranked_parts.deterministic_component_id
    left join part_links
        on
            deterministic_components.deterministic_component_id
            = part_links.deterministic_component_id
    where ranked_parts.part_rank > 1
)

select * from final
