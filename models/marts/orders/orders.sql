{#-
    Every purchase with its customer: web-shop orders (online and in store) and till transactions.

    Incremental (docs/sources.md, "The orders, order_items and consent marts, incrementally"): a build
    places again, and replaces by (source_name, order_id), only
    - the orders loaded since the last build, less var orders_lookback_hours (tessera.is_new_row), an
      order counting as loaded when it or any of its lines was (a status update, a refund, a late line);
    - the orders whose record's customer (customer_source_records) is not the mart's (re-attribution).
    A full refresh, a restage and a table without loaded_at place every order (tessera.mart_kept); the
    orders no longer in staging are removed after an incremental build (a post-hook).
-#}
{#- A table on Spark, whose plain tables cannot delete the orders removed
    upstream. #}
{{ config(
    materialized=tessera.deliveries_materialization(),
    incremental_strategy='delete+insert',
    unique_key=['source_name', 'order_id'],
    on_schema_change='append_new_columns',
    post_hook="{{ tessera.orders_removed_upstream() }}",
) }}
{%- set incremental = tessera.mart_kept('order', required_column='loaded_at') %}
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

lines_loaded as (
    select
        order_id,
        max(loaded_at) as loaded_at
    from order_items
    group by 1
),

{#- An order is complete once its last line has landed: its load time is the
    latest of its own and its lines'. #}
shop_loads as (
    select
        shop_orders.order_id,
        case
            when lines_loaded.loaded_at > shop_orders.loaded_at
                then lines_loaded.loaded_at
            else shop_orders.loaded_at
        end as loaded_at
    from shop_orders
    left join lines_loaded
        on shop_orders.order_id = lines_loaded.order_id
),

{#- The orders whose record now belongs to another customer than the mart
    says. #}
moved_orders as (
    {%- if incremental %}
    select
        placed.source_name,
        placed.order_id
    from {{ this }} as placed
    left join customer_source_records
        on
            customer_source_records.source_name = placed.source_name
            and customer_source_records.table_name
            = case placed.source_name
                when 'shop' then 'orders' else 'transactions'
            end
            and placed.order_id = customer_source_records.record_id
    where
        coalesce(placed.customer_id, '')
        <> coalesce(customer_source_records.customer_id, '')
    {%- else %}
    select
        cast(null as {{ dbt.type_string() }}) as source_name,
        cast(null as {{ dbt.type_string() }}) as order_id
    where 1 = 0
    {%- endif %}
),

shop_batch as (
    select shop_orders.*
    from shop_orders
    {%- if incremental %}
    where shop_orders.order_id in (
        select order_id from shop_loads
        where
            {{ tessera.is_new_row('loaded_at', 'shop', 'orders_lookback_hours') }}
        union all
        select order_id from moved_orders
        where source_name = 'shop'
    )
    {%- endif %}
),

pos_batch as (
    select * from pos_transactions
    {%- if incremental %}
    where transaction_id in (
        select transaction_id from pos_transactions
        where
            {{ tessera.is_new_row('loaded_at', 'pos', 'orders_lookback_hours') }}
        union all
        select order_id from moved_orders
        where source_name = 'pos'
    )
    {%- endif %}
),

items_per_order as (
    select
        order_id,
        sum(quantity) as item_count,
        count(distinct product_category) as category_count
    from order_items
    {%- if incremental %}
    where order_id in (select order_id from shop_batch)
    {%- endif %}
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
        shop_orders.ordered_at,
        shop_loads.loaded_at
    from shop_batch as shop_orders
    inner join shop_loads
        on shop_orders.order_id = shop_loads.order_id
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
        pos_transactions.transacted_at,
        pos_transactions.loaded_at
    from pos_batch as pos_transactions
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
