with

id_map as (
    select * from {{ ref('customer_id_map') }}
    where is_active
),

record_customers as (
    select * from {{ ref('int_identity__record_customers') }}
),

attributes as (
    select * from {{ ref('int_customer_attributes_ranked') }}
    where attribute_rank = 1
),

customer_ids as (
    select
        customer_id,
        min(customer_created_at) as customer_created_at,
        {#- Record nodes (person_record) are records, not identifiers. -#}
        count(case when identifier_type <> 'person_record' then 1 end)
            as identifier_count
    from id_map
    group by 1
),

records as (
    select
        customer_id,
        count(*) as source_record_count,
        count(distinct source_name) as source_count,
        min(observed_at) as first_seen_at,
        max(observed_at) as last_seen_at
    from record_customers
    group by 1
),

names as (
    select * from attributes
    where attribute = 'name'
),

emails as (
    select * from attributes
    where attribute = 'email'
),

phones as (
    select * from attributes
    where attribute = 'phone'
),

addresses as (
    select * from attributes
    where attribute = 'address'
),

final as (
    select
        customer_ids.customer_id,
        names.value_1 as first_name,
        names.value_2 as last_name,
        names.source_name || '.' || names.table_name as name_source,
        emails.value_1 as email,
        emails.source_name || '.' || emails.table_name as email_source,
        phones.value_1 as phone,
        phones.source_name || '.' || phones.table_name as phone_source,
        addresses.value_1 as street,
        addresses.value_2 as city,
        addresses.value_3 as postcode,
        addresses.value_4 as region,
        addresses.value_5 as country_code,
        addresses.source_name || '.' || addresses.table_name as address_source,
        customer_ids.identifier_count,
        coalesce(records.source_record_count, 0) as source_record_count,
        coalesce(records.source_count, 0) as source_count,
        names.observed_at as name_observed_at,
        emails.observed_at as email_observed_at,
        phones.observed_at as phone_observed_at,
        addresses.observed_at as address_observed_at,
        records.first_seen_at,
        records.last_seen_at,
        customer_ids.customer_created_at
    from customer_ids
    left join records
        on customer_ids.customer_id = records.customer_id
    left join names
        on customer_ids.customer_id = names.customer_id
    left join emails
        on customer_ids.customer_id = emails.customer_id
    left join phones
        on customer_ids.customer_id = phones.customer_id
    left join addresses
        on customer_ids.customer_id = addresses.customer_id
)

select * from final
