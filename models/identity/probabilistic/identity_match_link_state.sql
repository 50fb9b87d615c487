{#-
    Every pair that a probabilistic link has ever joined, with its status this build and the last:
    carried from build to build (incremental, full_refresh: false) so that when a link that joined a
    customer loses its support (its probability fell, a reviewer rejected it, a guard now refuses a
    record's identifiers, a record is gone) the split in customer_id_history can say why.
-#}
{{
    config(
        materialized='incremental',
        unique_key='pair_id',
        incremental_strategy='delete+insert',
        full_refresh=false,
        on_schema_change='fail',
    )
}}

with

links as (
    select * from {{ ref('int_identity__probabilistic_links') }}
),

previous as (
    {% if is_incremental() %}
    select * from {{ this }}
    {% else %}
        select
            cast(null as {{ dbt.type_string() }}) as pair_id,
            cast(null as {{ dbt.type_string() }}) as unique_id_l,
            cast(null as {{ dbt.type_string() }}) as unique_id_r,
            cast(null as {{ dbt.type_string() }}) as anchor_type_l,
            cast(null as {{ dbt.type_string() }}) as anchor_value_l,
            cast(null as {{ dbt.type_string() }}) as anchor_type_r,
            cast(null as {{ dbt.type_string() }}) as anchor_value_r,
            cast(null as {{ dbt.type_string() }}) as link_status,
            cast(null as {{ dbt.type_string() }}) as status_reason,
            cast(null as {{ tessera.type_double() }}) as match_probability,
            cast(null as {{ tessera.type_double() }}) as previous_match_probability,
            cast(null as boolean) as is_edge,
            cast(null as boolean) as was_edge,
            cast(null as {{ dbt.type_string() }}) as build_id,
            cast(null as timestamp) as status_changed_at
        where 1 = 0
    {% endif %}
),

tracked_links as (
    select links.*
    from links
    left join previous
        on links.pair_id = previous.pair_id
    where
        links.is_edge
        or previous.pair_id is not null
),

compared as (
    select
        coalesce(tracked_links.pair_id, previous.pair_id) as pair_id,
        coalesce(tracked_links.unique_id_l, previous.unique_id_l)
            as unique_id_l,
        coalesce(tracked_links.unique_id_r, previous.unique_id_r)
            as unique_id_r,
        coalesce(tracked_links.anchor_type_l, previous.anchor_type_l)
            as anchor_type_l,
        coalesce(tracked_links.anchor_value_l, previous.anchor_value_l)
            as anchor_value_l,
        coalesce(tracked_links.anchor_type_r, previous.anchor_type_r)
            as anchor_type_r,
        coalesce(tracked_links.anchor_value_r, previous.anchor_value_r)
            as anchor_value_r,
        coalesce(tracked_links.link_status, 'unscored') as link_status,
        tracked_links.decided_by,
        tracked_links.names_compatible,
        tracked_links.has_independent_evidence,
        tracked_links.bridges_refused_pair,
        tracked_links.anchor_node_id_l is null
        or tracked_links.anchor_node_id_r is null as has_unanchored_record,
        tracked_links.match_probability,
        previous.match_probability as previous_match_probability,
        coalesce(tracked_links.is_edge, false) as is_edge,
        coalesce(previous.is_edge, false) as was_edge,
        previous.link_status as previous_link_status,
        previous.status_reason as previous_status_reason,
        previous.status_changed_at as previous_status_changed_at
    from tracked_links
    full outer join previous
        on tracked_links.pair_id = previous.pair_id
),

final as (
    select
        pair_id,
        unique_id_l,
        unique_id_r,
        anchor_type_l,
        anchor_value_l,
        anchor_type_r,
        anchor_value_r,
        link_status,
        case
            when is_edge then null
            when not was_edge then previous_status_reason
            when
                link_status = 'rejected'
                then 'rejected by ' || coalesce(decided_by, 'a reviewer')
            when link_status = 'held'
                then
                    'held for review: it would join the records of a pair a reviewer rejected'
            when link_status = 'unscored'
                then
                    'no longer scored at or above the review threshold {{ var("identity_match_review_threshold") }} (or a record is gone)'
            when
                has_unanchored_record
                then
                    'a guard now refuses every identifier of one of its records'
            when bridges_refused_pair
                then
                    'with another link of one of its records it would now join'
                    || ' two records the guard keeps apart'
            when not names_compatible
                then
                    'the guard now refuses it: first names, dates of birth or'
                    || ' phones disagree (match probability '
                    || cast(
                        cast(
                            match_probability as numeric(12, 6)
                        ) as {{ dbt.type_string() }}
                    )
                    || ')'
            when
                not has_independent_evidence
                and match_probability
                >= {{ var("identity_match_accept_threshold") }}
                then
                    'only the name and email still agree (match probability '
                    || cast(
                        cast(
                            match_probability as numeric(12, 6)
                        ) as {{ dbt.type_string() }}
                    )
                    || ')'
            else
                'match probability fell to '
                || cast(
                    cast(
                        match_probability as numeric(12, 6)
                    ) as {{ dbt.type_string() }}
                )
                || ', below the accept threshold {{ var("identity_match_accept_threshold") }}'
        end as status_reason,
        match_probability,
        previous_match_probability,
        is_edge,
        was_edge,
        '{{ invocation_id }}' as build_id,
        case
            when
                previous_link_status is null
                or previous_link_status <> link_status
                or is_edge <> was_edge
                then cast({{ dbt.current_timestamp() }} as timestamp)
            else previous_status_changed_at
        end as status_changed_at
    from compared
)

select * from final
