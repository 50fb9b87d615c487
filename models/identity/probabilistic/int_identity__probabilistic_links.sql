{#-
    Every scored pair and every reviewed pair, with its status this build:
    - accepted: match probability >= the accept threshold, the guard finds no evidence against the
      pair (names_compatible: no household pattern of different first names without the same date
      of birth or but for a typo, no dates of birth a generation apart, no different phones; a
      missing field is no evidence either way) and something besides name and email agrees (street,
      exactly or but for a typo, postcode, phone or date of birth);
    - accepted_by_reviewer / rejected: a reviewer's decision, which wins over any probability;
    - review: between the review and accept thresholds, or above it while the names disagree or
      only the name and email agree;
    - held: would be accepted, but touches a record part (deterministic component) of a pair a
      reviewer rejected. Every path between the two parts of a rejected pair starts and ends with a
      link touching those parts, so holding their automatic links keeps the pair apart through any
      third record (a cannot-link constraint); only links a reviewer accepted can still join them.
      Held links wait in the review queue;
    - review, too: a link that would be accepted but, with another accepted link of the same record,
      joins two records that the guard keeps apart (bridges_refused_pair: a record without a first
      name, probable for two household members). A cluster is accepted only when it holds together.
    Each side carries its record's anchor (strongest linkable identifier), which is what an accepted
    link joins in the identity graph: probabilistic links pass the same node guards as any other.
-#}
with

pairs as (
    select * from {{ ref('int_identity__match_pairs') }}
),

decisions as (
    select * from {{ ref('stg_review__identity_review_decisions') }}
),

occurrences as (
    select * from {{ ref('int_identity__identifier_occurrences') }}
),

nodes as (
    select * from {{ ref('int_identity__nodes') }}
),

deterministic_components as (
    select * from {{ ref('int_identity__deterministic_components') }}
),

latest_decisions as (
    select *
    from (
        select
            *,
            row_number()
                over (
                    partition by pair_id
                    order by decided_at desc, decision_id desc
                )
                as decision_rank
        from decisions
    ) as ranked_decisions
    where decision_rank = 1
),

scored_candidates as (
    select
        coalesce(pairs.pair_id, latest_decisions.pair_id) as pair_id,
        coalesce(pairs.unique_id_l, latest_decisions.unique_id_l)
            as unique_id_l,
        coalesce(pairs.unique_id_r, latest_decisions.unique_id_r)
            as unique_id_r,
        pairs.match_probability,
        pairs.match_weight,
        coalesce(pairs.names_compatible, false) as names_compatible,
        coalesce(pairs.has_independent_evidence, false)
            as has_independent_evidence,
        latest_decisions.decision,
        latest_decisions.decided_by,
        latest_decisions.decided_at,
        case
            when latest_decisions.decision = 'reject' then 'rejected'
            when
                latest_decisions.decision = 'accept'
                then 'accepted_by_reviewer'
            when
                pairs.match_probability
                >= {{ var('identity_match_accept_threshold') }}
                and pairs.names_compatible
                and pairs.has_independent_evidence then 'accepted'
            else 'review'
        end as link_status
    from pairs
    full outer join latest_decisions
        on pairs.pair_id = latest_decisions.pair_id
),

accepted_ends as (
    -- How the cluster holds together: a record whose automatic links reach
    -- two records that the guard keeps apart (a surname-only record at a
    -- household's address, probable for both members) would join them
    -- through itself. Such links wait for review (bridging_links).
    select
        pair_id,
        unique_id_l as unique_id,
        unique_id_r as other_id
    from scored_candidates
    where link_status = 'accepted'
    union all
    select
        pair_id,
        unique_id_r as unique_id,
        unique_id_l as other_id
    from scored_candidates
    where link_status = 'accepted'
),

refused_pairs as (
    select
        unique_id_l,
        unique_id_r
    from scored_candidates
    where
        match_probability is not null
        and not names_compatible
        and decision is null
),

{#- Two equality joins, not one join on an OR of them: DuckDB (and Postgres)
    cannot hash an OR, so it compared every pair of accepted ends with every
    refused pair (34 of 40 s of this model at 1M customers). -#}
end_pairs as (
    select
        end_a.pair_id,
        end_a.other_id as other_id_a,
        end_b.other_id as other_id_b
    from accepted_ends as end_a
    inner join accepted_ends as end_b
        on
            end_a.unique_id = end_b.unique_id
            and end_a.other_id <> end_b.other_id
),

bridging_links as (
    select end_pairs.pair_id
    from end_pairs
    inner join refused_pairs
        on
            end_pairs.other_id_a = refused_pairs.unique_id_l
            and end_pairs.other_id_b = refused_pairs.unique_id_r
    union
    select end_pairs.pair_id
    from end_pairs
    inner join refused_pairs
        on
            end_pairs.other_id_b = refused_pairs.unique_id_l
            and end_pairs.other_id_a = refused_pairs.unique_id_r
),

candidates as (
    select
        scored_candidates.pair_id,
        scored_candidates.unique_id_l,
        scored_candidates.unique_id_r,
        scored_candidates.match_probability,
        scored_candidates.match_weight,
        scored_candidates.names_compatible,
        scored_candidates.has_independent_evidence,
        scored_candidates.decision,
        scored_candidates.decided_by,
        scored_candidates.decided_at,
        bridging_links.pair_id is not null as bridges_refused_pair,
        case
            when bridging_links.pair_id is not null then 'review'
            else scored_candidates.link_status
        end as link_status
    from scored_candidates
    left join bridging_links
        on scored_candidates.pair_id = bridging_links.pair_id
),

paired_records as (
    select unique_id_l as unique_id from candidates
    union
    select unique_id_r from candidates
),

{# Each paired record's anchor: its strongest linkable identifier, as in int_identity__edges. #}
record_nodes as (
    select
        occurrences.source_name
        || ':'
        || occurrences.table_name
        || ':'
        || occurrences.record_id as unique_id,
        occurrences.source_name,
        occurrences.table_name,
        occurrences.record_id,
        occurrences.observed_at,
        nodes.node_id,
        nodes.identifier_type,
        nodes.identifier_value,
        row_number() over (
            partition by
                occurrences.source_name,
                occurrences.table_name,
                occurrences.record_id
            order by nodes.priority, nodes.node_id
        ) as rank_in_record
    from occurrences
    inner join nodes
        on
            occurrences.identifier_type = nodes.identifier_type
            and occurrences.identifier_value = nodes.identifier_value
    inner join paired_records
        on
            occurrences.source_name
            || ':'
            || occurrences.table_name
            || ':'
            || occurrences.record_id
            = paired_records.unique_id
    where nodes.is_linkable
),

anchors as (
    select
        unique_id,
        source_name,
        table_name,
        record_id,
        observed_at,
        node_id,
        identifier_type,
        identifier_value
    from record_nodes
    where rank_in_record = 1
),

parts as (
    select
        candidates.pair_id,
        candidates.link_status,
        component_l.deterministic_component_id as component_id_l,
        component_r.deterministic_component_id as component_id_r
    from candidates
    left join anchors as anchor_l
        on candidates.unique_id_l = anchor_l.unique_id
    left join anchors as anchor_r
        on candidates.unique_id_r = anchor_r.unique_id
    left join deterministic_components as component_l
        on anchor_l.node_id = component_l.node_id
    left join deterministic_components as component_r
        on anchor_r.node_id = component_r.node_id
),

{# The parts of every rejected pair that identifiers do not already join. #}
rejected_parts as (
    select component_id_l as component_id from parts
    where link_status = 'rejected' and component_id_l <> component_id_r
    union
    select component_id_r from parts
    where link_status = 'rejected' and component_id_l <> component_id_r
),

statuses as (
    select
        parts.pair_id,
        case
            when
                parts.link_status = 'accepted'
                and exists (
                    select 1 from rejected_parts
                    where
                        rejected_parts.component_id in (
                            parts.component_id_l, parts.component_id_r
                        )
                )
                then 'held'
            else parts.link_status
        end as link_status
    from parts
),

final as (
    select
        candidates.pair_id,
        candidates.unique_id_l,
        candidates.unique_id_r,
        statuses.link_status,
        candidates.decision,
        candidates.decided_by,
        anchor_l.source_name as source_name_l,
        anchor_l.table_name as table_name_l,
        anchor_l.record_id as record_id_l,
        anchor_r.source_name as source_name_r,
        anchor_r.table_name as table_name_r,
        anchor_r.record_id as record_id_r,
        anchor_l.node_id as anchor_node_id_l,
        anchor_l.identifier_type as anchor_type_l,
        anchor_l.identifier_value as anchor_value_l,
        anchor_r.node_id as anchor_node_id_r,
        anchor_r.identifier_type as anchor_type_r,
        anchor_r.identifier_value as anchor_value_r,
        candidates.match_probability,
        candidates.match_weight,
        candidates.names_compatible,
        candidates.has_independent_evidence,
        candidates.bridges_refused_pair,
        statuses.link_status in ('accepted', 'accepted_by_reviewer')
        and anchor_l.node_id is not null
        and anchor_r.node_id is not null
        and anchor_l.node_id <> anchor_r.node_id as is_edge,
        candidates.decided_at,
        case
            when
                anchor_l.observed_at > anchor_r.observed_at
                then anchor_l.observed_at
            else coalesce(anchor_r.observed_at, anchor_l.observed_at)
        end as observed_at
    from candidates
    inner join statuses
        on candidates.pair_id = statuses.pair_id
    left join anchors as anchor_l
        on candidates.unique_id_l = anchor_l.unique_id
    left join anchors as anchor_r
        on candidates.unique_id_r = anchor_r.unique_id
)

select * from final
