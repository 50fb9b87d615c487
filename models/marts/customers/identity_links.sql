{#- Every edge that joined two identifiers into one customer: the explanation analysts read. -#}
with

edges as (
    select * from {{ ref('int_identity__edges') }}
),

nodes as (
    select * from {{ ref('int_identity__nodes') }}
),

id_map as (
    select * from {{ ref('customer_id_map') }}
    where is_active
),

final as (
    select
        id_map.customer_id,
        node_a.identifier_type as identifier_type_a,
        node_a.identifier_value as identifier_value_a,
        node_b.identifier_type as identifier_type_b,
        node_b.identifier_value as identifier_value_b,
        edges.link_rule,
        edges.source_name,
        edges.table_name,
        edges.record_id,
        edges.supporting_records,
        edges.confidence,
        edges.first_linked_at,
        edges.pair_id,
        edges.linked_record
    from edges
    inner join nodes as node_a
        on edges.node_id_a = node_a.node_id
    inner join nodes as node_b
        on edges.node_id_b = node_b.node_id
    inner join id_map
        on
            node_a.identifier_type = id_map.identifier_type
            and node_a.identifier_value = id_map.identifier_value
)

select * from final
