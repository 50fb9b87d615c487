{#-
    The identity-graph edges that probabilistic links make: one per pair of anchors joined by an
    accepted link (the most probable link, when several join the same two anchors). Confidence is
    the match probability, or 1.0 when a reviewer accepted the pair. int_identity__edges adds these
    to the deterministic edges, so stable ids, history and explanations treat them alike.
-#}
with

links as (
    select * from {{ ref('int_identity__probabilistic_links') }}
    where is_edge
),

oriented as (
    select
        case
            when
                anchor_node_id_l < anchor_node_id_r
                then anchor_node_id_l
            else anchor_node_id_r
        end as node_id_a,
        case
            when
                anchor_node_id_l < anchor_node_id_r
                then anchor_node_id_r
            else anchor_node_id_l
        end as node_id_b,
        case
            when
                link_status = 'accepted_by_reviewer'
                then 'reviewer_accepted'
            else 'probabilistic'
        end as link_rule,
        source_name_l as source_name,
        table_name_l as table_name,
        record_id_l as record_id,
        pair_id,
        source_name_r
        || '.'
        || table_name_r
        || ':'
        || record_id_r as linked_record,
        case
            when link_status = 'accepted_by_reviewer' then 1.0 else
                match_probability
        end as confidence,
        match_probability,
        observed_at
    from links
),

ranked as (
    select
        *,
        row_number() over (
            partition by node_id_a, node_id_b
            order by confidence desc, pair_id asc
        ) as link_rank,
        count(*) over (partition by node_id_a, node_id_b) as supporting_links
    from oriented
),

final as (
    select
        node_id_a,
        node_id_b,
        link_rule,
        source_name,
        table_name,
        record_id,
        pair_id,
        linked_record,
        supporting_links,
        cast(confidence as {{ tessera.type_double() }}) as confidence,
        cast(match_probability as {{ tessera.type_double() }}) as match_probability,
        observed_at as first_linked_at
    from ranked
    where link_rank = 1
)

select * from final
