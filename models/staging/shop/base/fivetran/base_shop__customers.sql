{#-
    Shop customers as Fivetran's Shopify connector writes them (the fivetran preset), into the same
    columns as the demo preset's base_shop__customers. The address is the customer's default one from
    customer_address. A customer Shopify deleted (`_fivetran_deleted`) is kept here and quarantined.
-#}
{{ config(
    enabled=tessera.source_preset('shop').preset == 'fivetran',
    pre_hook=tessera.utc_session(),
) }}
{%- set customer_columns = tessera.fivetran_shop_table('customer', required=true) -%}
{%- set address_columns = tessera.fivetran_shop_table('customer_address') -%}

with

source as (
    {% if customer_columns is none -%}
        select 1 as no_table where 1 = 0
    {%- else -%}
        select * from {{ source('fivetran_shopify', 'customer') }}
    {%- endif %}
),

addresses as (
    {% if address_columns is none -%}
        select
            cast(null as {{ dbt.type_string() }}) as customer_id,
            cast(null as {{ dbt.type_string() }}) as address_id,
            cast(null as {{ dbt.type_string() }}) as street,
            cast(null as {{ dbt.type_string() }}) as city,
            cast(null as {{ dbt.type_string() }}) as postcode,
            cast(null as {{ dbt.type_string() }}) as region,
            cast(null as {{ dbt.type_string() }}) as country,
            false as is_default
        where 1 = 0
    {%- else -%}
        select
            cast(customer_id as {{ dbt.type_string() }}) as customer_id,
            cast(id as {{ dbt.type_string() }}) as address_id,
            {{ tessera.column_or_null('address_1', address_columns) }} as street,
            {{ tessera.column_or_null('city', address_columns) }} as city,
            {{ tessera.column_or_null('zip', address_columns) }} as postcode,
            {{ tessera.column_or_null('province', address_columns) }} as region,
            {{ tessera.column_or_null('country_code', address_columns) }} as country,
            coalesce({{ tessera.column_or_null('is_default', address_columns, dbt.type_boolean()) }}, false)
                as is_default
        from {{ source('fivetran_shopify', 'customer_address') }}
        where not {{ tessera.fivetran_deleted(address_columns) }}
    {%- endif %}
),

customers as (
    select
        cast(id as {{ dbt.type_string() }}) as customer_id,
        first_name,
        last_name,
        email,
        phone,
        cast({{ tessera.column_or_null('default_address_id', customer_columns) }} as {{ dbt.type_string() }})
            as default_address_id,
        {#- Shopify replaced accepts_marketing by email_marketing_consent_state; a sync may have either. -#}
        coalesce(
            lower({{ tessera.column_or_null('email_marketing_consent_state', customer_columns) }}) = 'subscribed',
            {{ tessera.column_or_null('accepts_marketing', customer_columns, dbt.type_boolean()) }}
        ) as accepts_marketing,
        created_at,
        updated_at,
        _fivetran_synced,
        {{ tessera.fivetran_deleted(customer_columns) }} as is_deleted
    from source
),

default_addresses as (
    select
        customers.customer_id,
        addresses.street,
        addresses.city,
        addresses.postcode,
        addresses.region,
        addresses.country,
        row_number() over (
            partition by customers.customer_id
            order by
                case when addresses.address_id = customers.default_address_id then 0 else 1 end,
                case when addresses.is_default then 0 else 1 end,
                addresses.address_id
        ) as address_rank
    from customers
    inner join addresses on customers.customer_id = addresses.customer_id
),

joined as (
    select
        customers.*,
        default_addresses.street,
        default_addresses.city,
        default_addresses.postcode,
        default_addresses.region,
        default_addresses.country
    from customers
    left join default_addresses
        on customers.customer_id = default_addresses.customer_id and default_addresses.address_rank = 1
),

renamed as (
    select
        customer_id as shop_customer_id,
        {{ tessera.clean_text('first_name') }} as first_name,
        {{ tessera.clean_text('last_name') }} as last_name,
        {{ tessera.name_key('first_name') }} as first_name_key,
        {{ tessera.name_key('last_name') }} as last_name_key,
        email as email_raw,
        {{ tessera.normalize_email('email') }} as email,
        phone as phone_raw,
        {{ tessera.normalize_phone('phone', 'country') }} as phone,
        {{ tessera.clean_text('street') }} as street,
        {{ tessera.clean_text('city') }} as city,
        {{ tessera.normalize_postcode('postcode') }} as postcode,
        {{ tessera.clean_text('region') }} as region,
        upper(trim(country)) as country_code,
        coalesce(accepts_marketing, false) as accepts_marketing,
        cast(created_at as timestamp) as created_at,
        cast(updated_at as timestamp) as updated_at,
        cast(_fivetran_synced as timestamp) as loaded_at,
        is_deleted
    from joined
),

final as (
    select
        shop_customer_id, first_name, last_name, first_name_key, last_name_key, email_raw, email, phone_raw,
        phone, street, city, postcode, region, country_code, accepts_marketing, created_at, updated_at,
        loaded_at,
        {{ tessera.is_valid_email('email') }} as is_valid_email,
        {{ tessera.is_junk_identifier('email', 'email') }} as is_junk_email,
        {{ tessera.is_junk_identifier('phone', 'phone') }} as is_junk_phone,
        {{ tessera.email_issue('email') }} as email_issue,
        {{ tessera.phone_issue('phone_raw', 'phone') }} as phone_issue,
        {{ tessera.quarantine_reason([
            tessera.suppression_check([('shop_customer_id', 'shop_customer_id'), ('email', 'email'), ('phone', 'phone')]),
            ("is_deleted", "deleted in source"),
            ("shop_customer_id is null", "missing primary key"),
            ("created_at is null", "missing created_at"),
            ("not " ~ tessera.is_plausible_timestamp("created_at"), "created_at out of range"),
        ]) }} as quarantine_reason
    from renamed
)

select * from final
