{#-
    Order lines as Fivetran's Shopify connector writes them (the fivetran preset), into the same columns
    as the demo preset's base_shop__order_items. The line's category is its product's product_type. A
    line of an order Shopify deleted (`_fivetran_deleted` on the order) goes with its order, quarantined.
-#}
{{ config(
    enabled=tessera.source_preset('shop').preset == 'fivetran',
    pre_hook=tessera.utc_session(),
) }}
{%- set line_columns = tessera.fivetran_shop_table('order_line') -%}
{%- set order_columns = tessera.fivetran_shop_table('order', required=true) -%}
{%- set product_columns = tessera.fivetran_shop_table('product') -%}

with

source as (
    {% if line_columns is none -%}
        select
            cast(null as {{ dbt.type_string() }}) as id,
            cast(null as {{ dbt.type_string() }}) as order_id,
            cast(null as {{ dbt.type_string() }}) as product_id,
            cast(null as {{ dbt.type_string() }}) as title,
            cast(null as {{ dbt.type_int() }}) as quantity,
            cast(null as {{ dbt.type_numeric() }}) as price,
            cast(null as {{ dbt.type_timestamp() }}) as _fivetran_synced
        where 1 = 0
    {%- else -%}
        select * from {{ source('fivetran_shopify', 'order_line') }}
    {%- endif %}
),

deleted_orders as (
    {% if order_columns is none or '_fivetran_deleted' not in order_columns -%}
        select cast(null as {{ dbt.type_string() }}) as order_id where 1 = 0
    {%- else -%}
        select distinct cast(id as {{ dbt.type_string() }}) as order_id
        from {{ source('fivetran_shopify', 'order') }}
        where _fivetran_deleted
    {%- endif %}
),

products as (
    {% if product_columns is none -%}
        select
            cast(null as {{ dbt.type_string() }}) as product_id,
            cast(null as {{ dbt.type_string() }}) as product_type
        where 1 = 0
    {%- else -%}
        select
            cast(id as {{ dbt.type_string() }}) as product_id,
            {{ tessera.column_or_null('product_type', product_columns) }} as product_type
        from {{ source('fivetran_shopify', 'product') }}
    {%- endif %}
),

renamed as (
    select
        cast(source.id as {{ dbt.type_string() }}) as order_item_id,
        cast(source.order_id as {{ dbt.type_string() }}) as order_id,
        cast(source.product_id as {{ dbt.type_string() }}) as product_id,
        {{ tessera.clean_text('source.title') }} as product_name,
        lower(trim(products.product_type)) as product_category,
        cast(source.quantity as {{ dbt.type_int() }}) as quantity,
        cast(source.price as {{ dbt.type_numeric() }}) as unit_price,
        cast(source._fivetran_synced as timestamp) as loaded_at,
        deleted_orders.order_id is not null as is_order_deleted
    from source
    left join products on cast(source.product_id as {{ dbt.type_string() }}) = products.product_id
    left join deleted_orders on cast(source.order_id as {{ dbt.type_string() }}) = deleted_orders.order_id
),

final as (
    select
        order_item_id, order_id, product_id, product_name, product_category, quantity, unit_price, loaded_at,
        {{ tessera.quarantine_reason([
            ("is_order_deleted", "order deleted in source"),
            ("order_item_id is null", "missing primary key"),
            ("order_id is null", "missing order_id"),
            ("quantity is null or quantity <= 0", "missing or non-positive quantity"),
        ]) }} as quarantine_reason
    from renamed
)

select * from final
