{#- Every distinct identifier, with the verdicts of the value checks: blocklist and validity. -#}
with

occurrences as (
    select * from {{ ref('int_identity__identifier_occurrences') }}
),

identifier_types as (
    select * from {{ ref('int_identity__identifier_types') }}
),

blocklist as (
    select * from {{ ref('identifier_blocklist') }}
),

distinct_nodes as (
    select
        identifier_type,
        identifier_value,
        count(*) as record_count,
        count(distinct source_name) as source_count,
        min(observed_at) as first_seen_at,
        max(observed_at) as last_seen_at
    from occurrences
    group by 1, 2
),

junk_matches as (
    select
        distinct_nodes.identifier_type,
        distinct_nodes.identifier_value,
        min(blocklist.reason) as junk_reason
    from distinct_nodes
    inner join blocklist
        on
            distinct_nodes.identifier_type = blocklist.identifier_type
            and {{ tessera.regex_matches('distinct_nodes.identifier_value', 'blocklist.pattern') }}
    group by 1, 2
),

final as (
    select
        distinct_nodes.*,
        identifier_types.priority,
        identifier_types.max_group_size,
        identifier_types.check_names,
        junk_matches.junk_reason,
        case
            when
                distinct_nodes.identifier_type = 'email'
                and not {{ tessera.is_valid_email('distinct_nodes.identifier_value') }}
                then 'not a valid email address'
            when
                identifier_types.identifier_type is null
                then 'unknown identifier type'
        end as invalid_reason
    from distinct_nodes
    left join identifier_types
        on distinct_nodes.identifier_type = identifier_types.identifier_type
    left join junk_matches
        on
            distinct_nodes.identifier_type = junk_matches.identifier_type
            and distinct_nodes.identifier_value = junk_matches.identifier_value
)

select * from final
