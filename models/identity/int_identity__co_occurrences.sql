{#- Which identifiers are seen together in one record, among those that pass the value checks. -#}
with

clean_occurrences as (
    select * from {{ ref('int_identity__clean_occurrences') }}
),

final as (
    select distinct
        node.identifier_type,
        node.identifier_value,
        partner.identifier_type as partner_type,
        partner.identifier_value as partner_value,
        partner.priority < node.priority as is_stronger_partner
    from clean_occurrences as node
    inner join clean_occurrences as partner
        on
            node.source_name = partner.source_name
            and node.table_name = partner.table_name
            and node.record_id = partner.record_id
            and node.identifier_type <> partner.identifier_type
)

select * from final
