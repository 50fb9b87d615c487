with

id_map as (
    select * from {{ ref('customer_id_map') }}
    {#- A record node (person_record) is a record, not an identifier. #}
    where is_active and identifier_type <> 'person_record'
),

occurrences as (
    select * from {{ ref('int_identity__identifier_occurrences') }}
),

seen as (
    select
        identifier_type,
        identifier_value,
        min(observed_at) as first_seen_at,
        max(observed_at) as last_seen_at,
        count(*) as record_count,
        {{ dbt.listagg("distinct source_name", "', '", "order by source_name") }}
            as seen_in_sources
    from occurrences
    group by 1, 2
),

final as (
    select
        id_map.customer_id,
        id_map.identifier_type,
        id_map.identifier_value,
        seen.seen_in_sources,
        seen.record_count,
        seen.first_seen_at,
        seen.last_seen_at
    from id_map
    inner join seen
        on
            id_map.identifier_type = seen.identifier_type
            and id_map.identifier_value = seen.identifier_value
)

select * from final
