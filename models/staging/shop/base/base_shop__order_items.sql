{#- The demo preset (docs/raw_schema.md); base/fivetran/ holds the
    Fivetran Shopify one. -#}
{{ config(enabled=tessera.source_preset('shop').preset == 'demo') }}

with

source as (
    select * from {{ source('shop', 'order_items') }}
),

renamed as (
    select
        cast(order_item_id as {{ dbt.type_string() }}) as order_item_id,
        cast(order_id as {{ dbt.type_string() }}) as order_id,
        product_id,
        {{ tessera.clean_text('product_name') }} as product_name,
        lower(trim(category)) as product_category,
        cast(quantity as {{ dbt.type_int() }}) as quantity,
        cast(price as {{ dbt.type_numeric() }}) as unit_price,
        cast(_loaded_at as timestamp) as loaded_at
    from source
),

final as (
    select
        *,
        {{ tessera.quarantine_reason([
            ("order_item_id is null", "missing primary key"),
            ("order_id is null", "missing order_id"),
            ("quantity is null or quantity <= 0", "missing or non-positive quantity"),
        ]) }} as quarantine_reason
    from renamed
)

select * from final
