{#-
    What probabilistic matching compares, derived from the person records by fixed rules only (no
    per-dataset tuning): name keys (a full name is split into first and last), the nickname's
    formal name, date of birth, the mailbox (plus-tags and Gmail dots removed) and its user part,
    the phone, a street key, postcode and city. An email or phone that a guard refuses (junk, a shared family inbox or phone) is left out:
    it says nothing about who the person is. The keys come from int_identity__match_record_keys, which
    keys only new and changed records; the guards' verdicts and the nicknames are joined here on every
    build, since a new record can change another's (a shared inbox refused).
-#}
with

{#- The name, street and city keys, kept from build to build. #}
record_keys as (
    select * from {{ ref('int_identity__match_record_keys') }}
),

nodes as (
    select * from {{ ref('int_identity__nodes') }}
),

nicknames as (
    select * from {{ ref('name_nicknames') }}
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
        keyed.unique_id,
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
    from record_keys as keyed
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
