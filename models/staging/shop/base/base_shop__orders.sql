{#- The demo preset (docs/raw_schema.md); base/fivetran/ holds the
    Fivetran Shopify one. -#}
{{ config(enabled=tessera.source_preset('shop').preset == 'demo') }}

with

source as (
    select * from {{ source('shop', 'orders') }}
),

renamed as (
    select
        cast(order_id as {{ dbt.type_string() }}) as order_id,
        cast(customer_id as {{ dbt.type_string() }}) as shop_customer_id,
        store_id,
        email as email_raw,
        {{ tessera.normalize_email('email') }} as email,
        channel as order_channel,
        upper(currency) as currency_code,
        discount_code,
        financial_status,
        cast(subtotal_price as {{ dbt.type_numeric() }}) as subtotal_amount,
        cast(total_discounts as {{ dbt.type_numeric() }}) as discount_amount,
        cast(total_price as {{ dbt.type_numeric() }}) as total_amount,
        cast(created_at as timestamp) as ordered_at,
        cast(_loaded_at as timestamp) as loaded_at
    from source
),

final as (
    select
        *,
        {{ tessera.is_junk_identifier('email', 'email') }} as is_junk_email,
        {{ tessera.quarantine_reason([
            tessera.suppression_check([('shop_customer_id', 'shop_customer_id'), ('email', 'email')]),
            ("order_id is null", "missing primary key"),
            ("ordered_at is null", "missing created_at"),
            ("not " ~ tessera.is_plausible_timestamp("ordered_at"), "created_at out of range"),
            ("total_amount is null or total_amount < 0", "missing or negative total"),
        ]) }} as quarantine_reason
    from renamed
)

select * from final
