{#-
    Person records no customer holds, with the reason: every identifier they carry was refused by a
    guard (the first refusal is named), or they carry no identifier and no name with a date of birth
    or an address, which is too little to say who they are. Together with customer_source_records
    this lists every record of int_person_records_unioned exactly once (test
    person_records_are_placed_or_unresolved).
-#}
with

person_records as (
    select * from {{ ref('int_person_records_unioned') }}
),

occurrences as (
    select * from {{ ref('int_identity__identifier_occurrences') }}
),

nodes as (
    select * from {{ ref('int_identity__nodes') }}
),

record_customers as (
    select * from {{ ref('int_identity__record_customers') }}
),

refusals as (
    select
        occurrences.source_name,
        occurrences.table_name,
        occurrences.record_id,
        min(
            occurrences.identifier_type
            || ' '
            || occurrences.identifier_value
            || ': '
            || nodes.refusal_reason
        ) as refusal
    from occurrences
    inner join nodes
        on
            occurrences.identifier_type = nodes.identifier_type
            and occurrences.identifier_value = nodes.identifier_value
    where not nodes.is_linkable
    group by 1, 2, 3
),

final as (
    select
        person_records.source_name,
        person_records.table_name,
        person_records.record_id,
        coalesce(
            refusals.refusal,
            case
                when person_records.has_name
                    then
                        'a name only: no identifier, '
                        || 'no date of birth and no address'
                else 'no identifier and no name'
            end
        ) as reason
    from person_records
    left join record_customers
        on
            person_records.source_name = record_customers.source_name
            and person_records.table_name = record_customers.table_name
            and person_records.record_id = record_customers.record_id
    left join refusals
        on
            person_records.source_name = refusals.source_name
            and person_records.table_name = refusals.table_name
            and person_records.record_id = refusals.record_id
    where record_customers.record_id is null
)

select * from final
