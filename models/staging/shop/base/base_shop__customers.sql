{#- The demo preset (docs/raw_schema.md); base/fivetran/ holds the
    Fivetran Shopify one. -#}
{{ config(enabled=tessera.source_preset('shop').preset == 'demo') }}

with

source as (
    select * from {{ source('shop', 'customers') }}
),

renamed as (
    select
        cast(customer_id as {{ dbt.type_string() }}) as shop_customer_id,
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
        cast(_loaded_at as timestamp) as loaded_at
    from source
),

final as (
    select
        *,
        {{ tessera.is_valid_email('email') }} as is_valid_email,
        {{ tessera.is_junk_identifier('email', 'email') }} as is_junk_email,
        {{ tessera.is_junk_identifier('phone', 'phone') }} as is_junk_phone,
        {{ tessera.email_issue('email') }} as email_issue,
        {{ tessera.phone_issue('phone_raw', 'phone') }} as phone_issue,
        {{ tessera.quarantine_reason([
            tessera.suppression_check([('shop_customer_id', 'shop_customer_id'), ('email', 'email'), ('phone', 'phone')]),
            ("shop_customer_id is null", "missing primary key"),
            ("created_at is null", "missing created_at"),
            ("not " ~ tessera.is_plausible_timestamp("created_at"), "created_at out of range"),
        ]) }} as quarantine_reason
    from renamed
)

select * from final
