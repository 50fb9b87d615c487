{#-
    Each source record's customer: the customer of its linkable identifiers (all of a record's
    linkable identifiers are in one component, since the record joins them). `placed_by` is the
    strongest of them, the record's anchor.
-#}
with

occurrences as (
    select * from {{ ref('int_identity__identifier_occurrences') }}
),

nodes as (
    select * from {{ ref('int_identity__nodes') }}
),

id_map as (
    select * from {{ ref('customer_id_map') }}
    where is_active
),

placed as (
    select
        occurrences.source_name,
        occurrences.table_name,
        occurrences.record_id,
        occurrences.observed_at,
        id_map.customer_id,
        nodes.identifier_type,
        row_number() over (
            partition by occurrences.source_name, occurrences.table_name, occurrences.record_id
            order by nodes.priority, nodes.node_id
        ) as anchor_rank
    from occurrences
    inner join nodes
        on occurrences.identifier_type = nodes.identifier_type
        and occurrences.identifier_value = nodes.identifier_value
    inner join id_map
        on occurrences.identifier_type = id_map.identifier_type
        and occurrences.identifier_value = id_map.identifier_value
    where nodes.is_linkable
),

final as (
    select
        source_name,
        table_name,
        record_id,
        customer_id,
        'identifier:' || identifier_type as placed_by,
        cast(1.0 as double precision) as confidence,
        observed_at
    from placed
    where anchor_rank = 1
)

select * from final
