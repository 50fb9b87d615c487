with

record_customers as (
    select * from {{ ref('int_identity__record_customers') }}
),

final as (
    select
        source_name,
        table_name,
        record_id,
        customer_id,
        placed_by,
        confidence,
        observed_at
    from record_customers
)

select * from final
