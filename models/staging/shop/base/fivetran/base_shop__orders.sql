{#-
    Orders as Fivetran's Shopify connector writes them (the fivetran preset), into the same columns as
    the demo preset's base_shop__orders. Shopify's source_name says where the order was placed (`pos`
    is a till, so a store order at location_id; anything else is online), and its financial_status has
    more states than the contract's three. The first discount code comes from order_discount_code. An
    order Shopify deleted (`_fivetran_deleted`) is kept here and quarantined.
-#}
{{ config(
    enabled=tessera.source_preset('shop').preset == 'fivetran',
    pre_hook=tessera.utc_session(),
) }}
{%- set order_columns = tessera.fivetran_shop_table('order', required=true) -%}
{%- set code_columns = tessera.fivetran_shop_table('order_discount_code') -%}

with

source as (
    {% if order_columns is none -%}
        select 1 as no_table where 1 = 0
    {%- else -%}
        select * from {{ source('fivetran_shopify', 'order') }}
    {%- endif %}
),

discount_codes as (
    {% if code_columns is none -%}
        select
            cast(null as {{ dbt.type_string() }}) as order_id,
            cast(null as {{ dbt.type_string() }}) as discount_code
        where 1 = 0
    {%- else -%}
        select
            cast(order_id as {{ dbt.type_string() }}) as order_id,
            code as discount_code,
            row_number() over (
                partition by order_id
                order by {{ tessera.column_or_null('index', code_columns, dbt.type_int()) }}, code
            ) as code_rank
        from {{ source('fivetran_shopify', 'order_discount_code') }}
    {%- endif %}
),

orders as (
    select
        cast(id as {{ dbt.type_string() }}) as order_id,
        cast(customer_id as {{ dbt.type_string() }}) as customer_id,
        case
            when lower({{ tessera.column_or_null('source_name', order_columns) }}) = 'pos'
                then cast({{ tessera.column_or_null('location_id', order_columns) }} as {{ dbt.type_string() }})
        end as store_id,
        email,
        case
            when lower({{ tessera.column_or_null('source_name', order_columns) }}) = 'pos' then 'store'
            else 'online'
        end as channel,
        currency,
        {#- Shopify's financial states, in the contract's three: money taken, money returned, not yet taken. -#}
        case
            when lower(financial_status) in ('paid', 'partially_refunded') then 'paid'
            when lower(financial_status) in ('refunded', 'voided') then 'refunded'
            when lower(financial_status) in ('pending', 'authorized', 'partially_paid', 'expired') then 'pending'
        end as financial_status,
        subtotal_price,
        total_discounts,
        total_price,
        created_at,
        _fivetran_synced,
        {{ tessera.fivetran_deleted(order_columns) }} as is_deleted
    from source
),

renamed as (
    select
        orders.order_id,
        orders.customer_id as shop_customer_id,
        orders.store_id,
        orders.email as email_raw,
        {{ tessera.normalize_email('orders.email') }} as email,
        orders.channel as order_channel,
        upper(orders.currency) as currency_code,
        discount_codes.discount_code,
        orders.financial_status,
        cast(orders.subtotal_price as {{ dbt.type_numeric() }}) as subtotal_amount,
        cast(orders.total_discounts as {{ dbt.type_numeric() }}) as discount_amount,
        cast(orders.total_price as {{ dbt.type_numeric() }}) as total_amount,
        cast(orders.created_at as timestamp) as ordered_at,
        cast(orders._fivetran_synced as timestamp) as loaded_at,
        orders.is_deleted
    from orders
    left join discount_codes
        on orders.order_id = discount_codes.order_id and discount_codes.code_rank = 1
),

final as (
    select
        order_id, shop_customer_id, store_id, email_raw, email, order_channel, currency_code, discount_code,
        financial_status, subtotal_amount, discount_amount, total_amount, ordered_at, loaded_at,
        {{ tessera.is_junk_identifier('email', 'email') }} as is_junk_email,
        {{ tessera.quarantine_reason([
            tessera.suppression_check([('shop_customer_id', 'shop_customer_id'), ('email', 'email')]),
            ("is_deleted", "deleted in source"),
            ("order_id is null", "missing primary key"),
            ("ordered_at is null", "missing created_at"),
            ("not " ~ tessera.is_plausible_timestamp("ordered_at"), "created_at out of range"),
            ("total_amount is null or total_amount < 0", "missing or negative total"),
            ("financial_status is null", "unknown financial_status"),
        ]) }} as quarantine_reason
    from renamed
)

select * from final
