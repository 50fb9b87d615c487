{#-
    Every merge and split of customer ids, one row per (old id, new id) per build, never rebuilt
    from scratch. A merge: identifiers of `old_customer_id` now belong to the older
    `new_customer_id`. A split: some identifiers of `old_customer_id` (which lives on) now form
    `new_customer_id`. The reason names the link that joined them, or the guard that separated them.
-#}
{{
    config(
        materialized='incremental',
        incremental_strategy='append',
        full_refresh=false,
    )
}}

with

id_map as (
    select * from {{ ref('customer_id_map') }}
),

nodes as (
    select * from {{ ref('int_identity__nodes') }}
),

edges as (
    select * from {{ ref('int_identity__edges') }}
),

match_link_state as (
    select * from {{ ref('identity_match_link_state') }}
),

moved as (
    select
        previous_customer_id as old_customer_id,
        customer_id as new_customer_id,
        identifier_type,
        identifier_value
    from id_map
    where
        build_id = '{{ invocation_id }}'
        and is_active
        and previous_customer_id is not null
        and previous_customer_id <> customer_id
),

surviving_ids as (
    select distinct customer_id
    from id_map
    where
        build_id = '{{ invocation_id }}'
        and is_active
),

moves as (
    select
        moved.old_customer_id,
        moved.new_customer_id,
        case
            when surviving_ids.customer_id is null then 'merge' else 'split'
        end as change_kind,
        count(*) as identifiers_moved,
        min(moved.identifier_type || ':' || moved.identifier_value)
            as example_identifier
    from moved
    left join surviving_ids
        on moved.old_customer_id = surviving_ids.customer_id
    group by 1, 2, 3
),

{# For a merge, the earliest link across the two old customers explains it: an edge from an
    identifier of the merged-away customer to one that was not part of it. #}
node_previous as (
    select
        nodes.node_id,
        id_map.previous_customer_id
    from id_map
    inner join nodes
        on
            id_map.identifier_type = nodes.identifier_type
            and id_map.identifier_value = nodes.identifier_value
    where
        id_map.build_id = '{{ invocation_id }}'
        and id_map.is_active
),

merged_ids as (
    select distinct
        old_customer_id,
        new_customer_id
    from moved
),

crossing_edges as (
    select
        merged_ids.old_customer_id,
        merged_ids.new_customer_id,
        edges.*
    from edges
    inner join node_previous as node_a
        on edges.node_id_a = node_a.node_id
    inner join node_previous as node_b
        on edges.node_id_b = node_b.node_id
    inner join merged_ids
        on node_a.previous_customer_id = merged_ids.old_customer_id
    where
        coalesce(node_b.previous_customer_id, '') <> merged_ids.old_customer_id
    union all
    select
        merged_ids.old_customer_id,
        merged_ids.new_customer_id,
        edges.*
    from edges
    inner join node_previous as node_a
        on edges.node_id_a = node_a.node_id
    inner join node_previous as node_b
        on edges.node_id_b = node_b.node_id
    inner join merged_ids
        on node_b.previous_customer_id = merged_ids.old_customer_id
    where
        coalesce(node_a.previous_customer_id, '') <> merged_ids.old_customer_id
),

merge_links as (
    select
        old_customer_id,
        new_customer_id,
        min(
            link_rule
            || ' via record '
            || source_name
            || '.'
            || table_name
            || ':'
            || record_id
        ) as merge_link
    from crossing_edges
    group by 1, 2
),

{# For a split, the identifiers of the old customer that a guard now refuses are the likely cause. #}
split_guards as (
    select
        id_map.customer_id as old_customer_id,
        min(
            nodes.identifier_type || ' refused: ' || nodes.refusal_reason
        ) as split_guard
    from id_map
    inner join nodes
        on
            id_map.identifier_type = nodes.identifier_type
            and id_map.identifier_value = nodes.identifier_value
    where
        id_map.build_id = '{{ invocation_id }}'
        and not id_map.is_active
        and not nodes.is_linkable
    group by 1
),

{# For a split, a probabilistic link that joined the old customer and lost its support this build. #}
lost_links as (
    select
        map_l.previous_customer_id as old_customer_id,
        min(
            'probabilistic link '
            || match_link_state.pair_id
            || ' lost: '
            || match_link_state.status_reason
        ) as split_link
    from match_link_state
    inner join id_map as map_l
        on
            match_link_state.anchor_type_l = map_l.identifier_type
            and match_link_state.anchor_value_l = map_l.identifier_value
    inner join id_map as map_r
        on
            match_link_state.anchor_type_r = map_r.identifier_type
            and match_link_state.anchor_value_r = map_r.identifier_value
    where
        match_link_state.build_id = '{{ invocation_id }}'
        and match_link_state.was_edge
        and not match_link_state.is_edge
        and map_l.previous_customer_id = map_r.previous_customer_id
        and map_l.customer_id <> map_r.customer_id
    group by 1
),

final as (
    select
        moves.old_customer_id,
        moves.new_customer_id,
        moves.change_kind,
        case
            when moves.change_kind = 'merge'
                then
                    'joined by '
                    || coalesce(merge_links.merge_link, 'a shared identifier')
            else
                coalesce(
                    split_guards.split_guard,
                    lost_links.split_link,
                    'the links that joined them are gone'
                )
        end as reason,
        moves.identifiers_moved,
        moves.example_identifier,
        '{{ invocation_id }}' as build_id,
        cast({{ dbt.current_timestamp() }} as timestamp) as changed_at
    from moves
    left join merge_links
        on
            moves.old_customer_id = merge_links.old_customer_id
            and moves.new_customer_id = merge_links.new_customer_id
    left join split_guards
        on moves.old_customer_id = split_guards.old_customer_id
    left join lost_links
        on moves.old_customer_id = lost_links.old_customer_id
)

select * from final
