{#-
    The graph's edges from identifiers: the linkable identifiers seen together in one source record.
    Each record is a star around its anchor (its strongest linkable identifier), so a record with k
    identifiers adds k - 1 edges, not all pairs. One row per pair of nodes, with the earliest record
    that joined them (the explanation) and how many records did. int_identity__edges adds the
    accepted probabilistic links; the deterministic components are computed from these alone.
-#}
with

occurrences as (
    select * from {{ ref('int_identity__identifier_occurrences') }}
),

nodes as (
    select * from {{ ref('int_identity__nodes') }}
),

linkable_occurrences as (
    select distinct
        occurrences.source_name,
        occurrences.table_name,
        occurrences.record_id,
        occurrences.observed_at,
        nodes.node_id,
        nodes.priority
    from occurrences
    inner join nodes
        on
            occurrences.identifier_type = nodes.identifier_type
            and occurrences.identifier_value = nodes.identifier_value
    where nodes.is_linkable
),

ranked as (
    select
        *,
        row_number() over (
            partition by source_name, table_name, record_id
            order by priority, node_id
        ) as rank_in_record
    from linkable_occurrences
),

anchors as (
    select
        source_name,
        table_name,
        record_id,
        node_id as anchor_node_id
    from ranked
    where rank_in_record = 1
),

record_edges as (
    select
        anchors.anchor_node_id as node_id_a,
        ranked.node_id as node_id_b,
        ranked.source_name,
        ranked.table_name,
        ranked.record_id,
        ranked.observed_at
    from ranked
    inner join anchors
        on
            ranked.source_name = anchors.source_name
            and ranked.table_name = anchors.table_name
            and ranked.record_id = anchors.record_id
    where ranked.rank_in_record > 1
),

numbered as (
    select
        *,
        row_number() over (
            partition by node_id_a, node_id_b
            order by observed_at, source_name, table_name, record_id
        ) as record_number,
        count(*) over (partition by node_id_a, node_id_b) as supporting_records
    from record_edges
),

final as (
    select
        node_id_a,
        node_id_b,
        'same_record:' || source_name || '.' || table_name as link_rule,
        source_name,
        table_name,
        record_id,
        supporting_records,
        cast(1.0 as {{ tessera.type_double() }}) as confidence,
        observed_at as first_linked_at
    from numbered
    where record_number = 1
)

select * from final
