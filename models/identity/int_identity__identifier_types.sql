{#-
    Every identifier type identity knows: the identifier_types seed, plus the external-id types
    that person sources bring (settings declared under identifier_types: in
    sources/person_sources.yml, or the defaults the loader stamped: priority 3, at most one per
    customer, no group-size limit, no name check), plus `person_record`: a record that names a person
    with a date of birth or an address is a node of its own (int_identity__identifier_occurrences),
    the weakest type, so it anchors its record only when no identifier can.
-#}
with

seeded as (
    select * from {{ ref('identifier_types') }}
),

external_ids as (
    select * from {{ ref('stg_person_sources__external_ids') }}
),

declared as (
    select
        identifier_type,
        min(type_priority) as priority,
        min(type_max_per_customer) as max_per_customer,
        min(type_max_group_size) as max_group_size,
        min(type_description) as description
    from external_ids
    where type_priority is not null
    group by 1
),

final as (
    select
        identifier_type,
        priority,
        max_per_customer,
        max_group_size,
        check_names,
        description
    from seeded
    union all
    select
        declared.identifier_type,
        declared.priority,
        declared.max_per_customer,
        declared.max_group_size,
        false as check_names,
        declared.description
    from declared
    left join seeded
        on declared.identifier_type = seeded.identifier_type
    where seeded.identifier_type is null
    union all
    select
        'person_record' as identifier_type,
        1000 as priority,
        cast(null as integer) as max_per_customer,
        cast(null as integer) as max_group_size,
        false as check_names,
        'A person record itself (source:table:record_id)' as description
)

select * from final
