{#-
    What probabilistic matching compares, derived from the person records by fixed rules only (no
    per-dataset tuning): name keys (a full name is split into first and last), the nickname's
    formal name, date of birth, the mailbox (plus-tags and Gmail dots removed) and its user part,
    the phone, a street key, postcode and city. An email or phone that a guard refuses (junk, a shared family inbox or phone) is left out:
    it says nothing about who the person is.
-#}
with

person_records as (
    select * from {{ ref('int_identity__person_records') }}
),

nodes as (
    select * from {{ ref('int_identity__nodes') }}
),

nicknames as (
    select * from {{ ref('name_nicknames') }}
),

split_names as (
    select
        *,
        case
            when first_name is not null or last_name is not null then first_name
            when
                full_name like '%,%'
                then trim({{ dbt.split_part('full_name', "','", 2) }})
            else {{ dbt.split_part('full_name', "' '", 1) }}
        end as given_name,
        case
            when first_name is not null or last_name is not null then last_name
            when
                full_name like '%,%'
                then trim({{ dbt.split_part('full_name', "','", 1) }})
            when
                full_name like '% %'
                then
                    reverse(                        {{ dbt.split_part('reverse(full_name)', "' '", 1) }}                    )
        end as family_name
    from person_records
),

keyed as (
    select
        split_names.source_name,
        split_names.table_name,
        split_names.record_id,
        {{ tessera.name_key('split_names.given_name') }} as first_name_key,
        {{ tessera.name_key('split_names.family_name') }} as last_name_key,
        split_names.date_of_birth,
        split_names.email,
        split_names.phone,
        {{ tessera.street_key('split_names.street') }} as street_key,
        split_names.postcode,
        {{ tessera.name_key('split_names.city') }} as city_key,
        split_names.country
    from split_names
),

{# One mailbox, one address (macros/identity/mailbox_key.sql). #}
mailboxes as (
    select
        identifier_value as email,
        {{ tessera.mailbox_key('identifier_value') }} as mailbox
    from nodes
    where
        identifier_type = 'email'
        and is_linkable
),

canonical_emails as (
    select
        email,
        {{ dbt.split_part('mailbox', "'@'", 1) }} as email_user,
        {{ dbt.split_part('mailbox', "'@'", 2) }} as domain
    from mailboxes
),

final as (
    select
        keyed.source_name
        || ':'
        || keyed.table_name
        || ':'
        || keyed.record_id as unique_id,
        keyed.source_name,
        keyed.table_name,
        keyed.record_id,
        keyed.first_name_key,
        keyed.last_name_key,
        coalesce(nicknames.canonical_name, keyed.first_name_key)
            as first_name_formal,
        {#- A last name as it would read in first-name position (for swaps: "Gates Bill"). -#}
        
        coalesce(
            last_name_nicknames.canonical_name, keyed.last_name_key
        ) as last_name_formal,
        keyed.date_of_birth,
        canonical_emails.email_user || '@' || canonical_emails.domain as email,
        canonical_emails.email_user,
        phone_nodes.identifier_value as phone,
        keyed.street_key,
        keyed.postcode,
        keyed.city_key,
        keyed.country
    from keyed
    left join nicknames
        on keyed.first_name_key = nicknames.nickname
    left join nicknames as last_name_nicknames
        on keyed.last_name_key = last_name_nicknames.nickname
    left join canonical_emails
        on keyed.email = canonical_emails.email
    left join nodes as phone_nodes
        on
            phone_nodes.identifier_type = 'phone'
            and keyed.phone = phone_nodes.identifier_value
            and phone_nodes.is_linkable
    where coalesce(keyed.first_name_key, keyed.last_name_key) is not null
)

select * from final
