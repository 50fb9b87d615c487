{#- Customers in the top two monetary quintiles who have not ordered for more than 90 days. -#}
with

traits as (
    select * from {{ ref('customer_traits') }}
),

final as (
    select
        customer_id,
        coalesce(rfm_monetary_score >= 4, false) as is_high_value,
        coalesce(days_since_last_order > 90, false) as has_not_ordered_for_90_days,
        coalesce(rfm_monetary_score >= 4, false) and coalesce(days_since_last_order > 90, false) as is_member
    from traits
)

select * from final
