{#-
    The person name each record carries, reduced to what identity compares: the first three
    letters of the first name (nicknames mapped to the formal name) and of the last name. Used to
    tell a shared family phone or inbox (different first names) from one person's duplicate records.
-#}
with

person_records as (
    select * from {{ ref('int_person_records_unioned') }}
),

nicknames as (
    select * from {{ ref('name_nicknames') }}
),

{# A ticket's first name key is the first word of its one free-text name. #}
named_records as (
    select
        source_name,
        table_name,
        record_id,
        first_name_key,
        last_name_key
    from person_records
    where first_name_key is not null
),

final as (
    select
        named_records.source_name,
        named_records.table_name,
        named_records.record_id,
        substr(
            coalesce(nicknames.canonical_name, named_records.first_name_key),
            1,
            3
        ) as first_name_prefix,
        {#- Compared only to tell a swap ("Gates Bill"), so read as a first name would be. -#}
        
        substr(
            coalesce(
                last_name_nicknames.canonical_name, named_records.last_name_key
            ),
            1,
            3
        ) as last_name_prefix
    from named_records
    left join nicknames
        on named_records.first_name_key = nicknames.nickname
    left join nicknames as last_name_nicknames
        on named_records.last_name_key = last_name_nicknames.nickname
    where named_records.first_name_key is not null
)

select * from final
