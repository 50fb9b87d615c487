{#-
    Each source record's customer: the customer of its linkable identifiers (all of a record's
    linkable identifiers are in one component, since the record joins them). `placed_by` is the
    strongest of them, the record's anchor. A record with no linkable identifier that names a person
    with a date of birth or an address is its own node (`person_record`), so it is placed too: by
    an accepted probabilistic link, or as a customer of its own (`placed_by = record`).
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

{# Identifiers that only a probabilistic link attached to their customer, with that confidence. #}
node_confidence as (
    select * from {{ ref('int_identity__node_confidence') }}
),

placed as (
    select
        occurrences.source_name,
        occurrences.table_name,
        occurrences.record_id,
        occurrences.observed_at,
        id_map.customer_id,
        nodes.identifier_type,
        nodes.node_id,
        row_number() over (
            partition by
                occurrences.source_name,
                occurrences.table_name,
                occurrences.record_id
            order by nodes.priority, nodes.node_id
        ) as anchor_rank
    from occurrences
    inner join nodes
        on
            occurrences.identifier_type = nodes.identifier_type
            and occurrences.identifier_value = nodes.identifier_value
    inner join id_map
        on
            occurrences.identifier_type = id_map.identifier_type
            and occurrences.identifier_value = id_map.identifier_value
    where nodes.is_linkable
),

final as (
    select
        placed.source_name,
        placed.table_name,
        placed.record_id,
        placed.customer_id,
        coalesce(
            node_confidence.placed_by,
            case
                when placed.identifier_type = 'person_record' then 'record'
                else 'identifier:' || placed.identifier_type
            end
        ) as placed_by,
        coalesce(node_confidence.confidence, cast(1.0 as {{ tessera.type_double() }}))
            as confidence,
        placed.observed_at
    from placed
    left join node_confidence
        on placed.node_id = node_confidence.node_id
    where placed.anchor_rank = 1
)

select * from final
