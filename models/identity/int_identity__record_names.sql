{#-
    The person name each record carries, reduced to what identity compares: the first three
    letters of the first name (nicknames mapped to the formal name) and of the last name. Used to
    tell a shared family phone or inbox (different first names) from one person's duplicate records.
-#}
with

crm_contacts as (
    select * from {{ ref('stg_crm__contacts') }}
),

shop_customers as (
    select * from {{ ref('stg_shop__customers') }}
),

identifies as (
    select * from {{ ref('stg_events__identifies') }}
),

tickets as (
    select * from {{ ref('stg_support__tickets') }}
),

person_source_records as (
    select * from {{ ref('stg_person_sources__records') }}
),

nicknames as (
    select * from {{ ref('name_nicknames') }}
),

named_records as (
    select
        'crm' as source_name,
        'contacts' as table_name,
        crm_contact_id as record_id,
        first_name_key,
        last_name_key
    from crm_contacts
    union all
    select
        'shop' as source_name,
        'customers' as table_name,
        shop_customer_id as record_id,
        first_name_key,
        last_name_key
    from shop_customers
    union all
    select
        'events' as source_name,
        'identifies' as table_name,
        message_id as record_id,
        {{ tessera.name_key('first_name') }} as first_name_key,
        {{ tessera.name_key('last_name') }} as last_name_key
    from identifies
    union all
    -- A ticket has one free-text name: its first word is taken as the first name.
    select
        'support' as source_name,
        'tickets' as table_name,
        ticket_id as record_id,
        {{ tessera.name_key(dbt.split_part('requester_name', "' '", 1)) }}
            as first_name_key,
        null as last_name_key
    from tickets
    union all
    select
        source_name,
        table_name,
        record_id,
        first_name_key,
        last_name_key
    from person_source_records
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
