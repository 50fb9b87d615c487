{#-
    Every web-shop order line with its order's customer, status and time: what was bought, by whom.

    Incremental (docs/sources.md, "The orders, order_items and consent marts, incrementally"): a build
    places again, and replaces by order_item_id, only the lines of the orders loaded since the last
    build, less var orders_lookback_hours (an order's loaded_at in the orders mart is the latest load
    of the order and its lines: a new line, a status update, a refund), and the lines whose customer,
    status or time is not their order's in the orders mart (re-attribution). A full refresh, a restage
    and a table without loaded_at place every line (tessera.mart_kept); the lines no longer in staging,
    or whose order left the orders mart, are removed after an incremental build (a post-hook).
-#}
{#- A table on Spark, whose plain tables cannot delete the lines removed
    upstream. #}
{{ config(
    materialized=tessera.deliveries_materialization(),
    incremental_strategy='delete+insert',
    unique_key=['order_item_id'],
    on_schema_change='append_new_columns',
    post_hook="{{ tessera.order_items_removed_upstream() }}",
) }}
{%- set incremental = tessera.mart_kept(
    'order line', required_column='loaded_at'
) %}
with

order_items as (
    select * from {{ ref('stg_shop__order_items') }}
),

orders as (
    select * from {{ ref('orders') }}
    where source_name = 'shop'
),

{#- The lines whose order now has another customer, status or time than the
    mart says. #}
moved_items as (
    {%- if incremental %}
    select placed.order_item_id
    from {{ this }} as placed
    inner join orders
        on placed.order_id = orders.order_id
    where
        coalesce(placed.customer_id, '') <> coalesce(orders.customer_id, '')
        or coalesce(placed.financial_status, '')
        <> coalesce(orders.financial_status, '')
        or placed.ordered_at <> orders.ordered_at
    {%- else %}
    select cast(null as {{ dbt.type_string() }}) as order_item_id
    where 1 = 0
    {%- endif %}
),

batch as (
    select
        order_items.*,
        orders.customer_id,
        orders.financial_status,
        orders.ordered_at,
        orders.loaded_at as order_loaded_at
    from order_items
    inner join orders
        on order_items.order_id = orders.order_id
    {%- if incremental %}
    where
        {{ tessera.is_new_row(
            'orders.loaded_at', lookback_var='orders_lookback_hours'
        ) }}
        or order_items.order_item_id in (select order_item_id from moved_items)
    {%- endif %}
),

final as (
    select
        order_item_id,
        order_id,
        customer_id,
        cast(product_id as {{ dbt.type_string() }}) as product_id,
        product_name,
        product_category,
        financial_status,
        cast(quantity as integer) as quantity,
        cast(unit_price as numeric(18, 2)) as unit_price,
        ordered_at,
        order_loaded_at as loaded_at
    from batch
)

select * from final
