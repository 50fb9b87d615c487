{#- Every web-shop order line with its order's customer, status and time:
    what was bought, by whom. -#}
with

order_items as (
    select * from {{ ref('stg_shop__order_items') }}
),

orders as (
    select * from {{ ref('orders') }}
),

final as (
    select
        order_items.order_item_id,
        order_items.order_id,
        orders.customer_id,
        cast(order_items.product_id as {{ dbt.type_string() }}) as product_id,
        order_items.product_name,
        order_items.product_category,
        orders.financial_status,
        cast(order_items.quantity as integer) as quantity,
        cast(order_items.unit_price as numeric(18, 2)) as unit_price,
        orders.ordered_at
    from order_items
    inner join orders
        on
            orders.source_name = 'shop'
            and order_items.order_id = orders.order_id
)

select * from final
