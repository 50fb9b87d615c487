{#- What each identity guard refused, and why: the refused identifier never links records. -#}
with

nodes as (
    select * from {{ ref('int_identity__nodes') }}
),

refusals as (
    select
        identifier_type,
        identifier_value,
        record_count,
        'blocklist' as guard,
        junk_reason as reason
    from nodes
    where junk_reason is not null
    union all
    select
        identifier_type,
        identifier_value,
        record_count,
        'invalid' as guard,
        invalid_reason as reason
    from nodes
    where invalid_reason is not null
    union all
    select
        identifier_type,
        identifier_value,
        record_count,
        'max_group_size' as guard,
        group_size_reason as reason
    from nodes
    where group_size_reason is not null
    union all
    select
        identifier_type,
        identifier_value,
        record_count,
        'max_per_customer' as guard,
        limit_reason as reason
    from nodes
    where limit_reason is not null
    union all
    select
        identifier_type,
        identifier_value,
        record_count,
        'name_conflict' as guard,
        name_conflict_reason as reason
    from nodes
    where name_conflict_reason is not null
),

final as (
    select
        guard,
        identifier_type,
        identifier_value,
        reason,
        record_count as records_affected,
        '{{ invocation_id }}' as build_id
    from refusals
)

select * from final
