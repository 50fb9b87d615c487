{#- Every purchase with its customer: web-shop orders (online and in store)
    and till transactions. -#}
with

shop_orders as (
    select * from {{ ref('stg_shop__orders') }}
),

order_items as (
    select * from {{ ref('stg_shop__order_items') }}
),

pos_transactions as (
    select * from {{ ref('stg_pos__transactions') }}
),

customer_source_records as (
    select * from {{ ref('customer_source_records') }}
),

items_per_order as (
    select
        order_id,
        sum(quantity) as item_count,
        count(distinct product_category) as category_count
    from order_items
    group by 1
),

shop as (
    select
        shop_orders.order_id,
        'shop' as source_name,
        customer_source_records.customer_id,
        shop_orders.order_channel,
        shop_orders.store_id,
        shop_orders.currency_code,
        shop_orders.discount_code,
        shop_orders.financial_status,
        cast(coalesce(items_per_order.item_count, 0) as bigint) as item_count,
        cast(shop_orders.total_amount as numeric(18, 2)) as total_amount,
        shop_orders.ordered_at
    from shop_orders
    left join items_per_order
        on shop_orders.order_id = items_per_order.order_id
    left join customer_source_records
        on
            customer_source_records.source_name = 'shop'
            and customer_source_records.table_name = 'orders'
            and shop_orders.order_id = customer_source_records.record_id
),

pos as (
    select
        pos_transactions.transaction_id,
        'pos' as source_name,
        customer_source_records.customer_id,
        'store' as order_channel,
        pos_transactions.store_id,
        pos_transactions.currency_code,
        cast(null as {{ dbt.type_string() }}) as discount_code,
        'paid' as financial_status,
        cast(coalesce(pos_transactions.item_count, 0) as bigint) as item_count,
        cast(pos_transactions.amount as numeric(18, 2)) as amount,
        pos_transactions.transacted_at
    from pos_transactions
    left join customer_source_records
        on
            customer_source_records.source_name = 'pos'
            and customer_source_records.table_name = 'transactions'
            and pos_transactions.transaction_id
            = customer_source_records.record_id
),

final as (
    select * from shop
    union all
    select * from pos
)

select * from final
