{#- Every distinct identifier, with the verdicts of the value checks: blocklist and validity. -#}
with

occurrences as (
    select * from {{ ref('int_identity__identifier_occurrences') }}
),

identifier_types as (
    select * from {{ ref('int_identity__identifier_types') }}
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

final as (
    select
        distinct_nodes.*,
        identifier_types.priority,
        identifier_types.max_group_size,
        identifier_types.check_names,
        {{ tessera.junk_identifier_reason(
            'distinct_nodes.identifier_type', 'distinct_nodes.identifier_value'
        ) }} as junk_reason,
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
)

select * from final
