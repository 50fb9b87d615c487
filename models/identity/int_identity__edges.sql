{#-
    The graph's edges: the identifier edges (int_identity__identifier_edges: linkable identifiers
    seen together in one source record, one row per node pair with the earliest record that joined
    them) and the accepted probabilistic links (models/identity/probabilistic/) between anchors no
    record joins.
-#}
with

deterministic_edges as (
    select * from {{ ref('int_identity__identifier_edges') }}
),

probabilistic_edges as (
    select * from {{ ref('int_identity__probabilistic_edges') }}
),

{# Accepted probabilistic links (models/identity/probabilistic/) join anchors no record joins. #}
final as (
    select
        *,
        cast(null as {{ dbt.type_string() }}) as pair_id,
        cast(null as {{ dbt.type_string() }}) as linked_record
    from deterministic_edges
    union all
    select
        probabilistic_edges.node_id_a,
        probabilistic_edges.node_id_b,
        probabilistic_edges.link_rule,
        probabilistic_edges.source_name,
        probabilistic_edges.table_name,
        probabilistic_edges.record_id,
        probabilistic_edges.supporting_links as supporting_records,
        probabilistic_edges.confidence,
        probabilistic_edges.first_linked_at,
        probabilistic_edges.pair_id,
        probabilistic_edges.linked_record
    from probabilistic_edges
    left join deterministic_edges
        on
            probabilistic_edges.node_id_a = deterministic_edges.node_id_a
            and probabilistic_edges.node_id_b = deterministic_edges.node_id_b
    where deterministic_edges.node_id_a is null
)

select * from final
