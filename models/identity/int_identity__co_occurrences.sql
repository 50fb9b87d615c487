{#- Which identifiers are seen together in one record, among those that pass the value checks. -#}
with

occurrences as (
    select * from {{ ref('int_identity__identifier_occurrences') }}
),

checked as (
    select * from {{ ref('int_identity__node_checks') }}
),

clean_occurrences as (
    select
        occurrences.source_name,
        occurrences.table_name,
        occurrences.record_id,
        occurrences.identifier_type,
        occurrences.identifier_value,
        checked.priority,
        checked.check_names
    from occurrences
    inner join checked
        on occurrences.identifier_type = checked.identifier_type
        and occurrences.identifier_value = checked.identifier_value
    where checked.junk_reason is null
        and checked.invalid_reason is null
),

co_occurrences as (
    select distinct
        node.identifier_type,
        node.identifier_value,
        partner.identifier_type as partner_type,
        partner.identifier_value as partner_value,
        partner.priority < node.priority as is_stronger_partner
    from clean_occurrences as node
    inner join clean_occurrences as partner
        on node.source_name = partner.source_name
        and node.table_name = partner.table_name
        and node.record_id = partner.record_id
        and node.identifier_type <> partner.identifier_type
)

select * from co_occurrences
