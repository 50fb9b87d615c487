{#- Person records that no customer holds, because none of their identifiers may be used to link. -#}
with

occurrences as (
    select * from {{ ref('int_identity__identifier_occurrences') }}
),

nodes as (
    select * from {{ ref('int_identity__nodes') }}
),

record_customers as (
    select * from {{ ref('int_identity__record_customers') }}
),

unplaced as (
    select
        occurrences.source_name,
        occurrences.table_name,
        occurrences.record_id,
        occurrences.identifier_type,
        occurrences.identifier_value,
        nodes.refusal_reason
    from occurrences
    inner join nodes
        on
            occurrences.identifier_type = nodes.identifier_type
            and occurrences.identifier_value = nodes.identifier_value
    left join record_customers
        on
            occurrences.source_name = record_customers.source_name
            and occurrences.table_name = record_customers.table_name
            and occurrences.record_id = record_customers.record_id
    where record_customers.record_id is null
),

final as (
    select
        source_name,
        table_name,
        record_id,
        min(
            identifier_type || ' ' || identifier_value || ': ' || refusal_reason
        ) as reason
    from unplaced
    group by 1, 2, 3
)

select * from final
