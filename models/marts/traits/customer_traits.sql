{#-
    Every computed trait per customer: the registry (the columns of models/marts/traits/_traits__models.yml
    with a meta trait:, passed as var traits), each cast to its contract type, then the traits below.
-#}
{%- set registry = tessera.analyst_var('traits', []) -%}
{%- set as_of_var = var('traits_as_of', none) -%}
{%- set plan = tessera.trait_registry_plan(registry, 'reference_time.as_of') -%}
{%- set condition = plan.conditions -%}

with

customers as (
    select * from {{ ref('customers') }}
),

events as (
    select * from {{ ref('events') }}
),

orders as (
    select * from {{ ref('orders') }}
),

survey_responses as (
    select * from {{ ref('stg_support__survey_responses') }}
),

tickets as (
    select * from {{ ref('stg_support__tickets') }}
),

customer_source_records as (
    select * from {{ ref('customer_source_records') }}
),

customer_identifiers as (
    select * from {{ ref('customer_identifiers') }}
),

public_holidays as (
    select * from {{ ref('stg_reference__public_holidays') }}
),

weather_daily as (
    select * from {{ ref('stg_reference__weather_daily') }}
),

reference_time as (
    {%- if as_of_var %}
    select cast('{{ as_of_var }}' as timestamp) as as_of
    {%- else %}
        select max(occurred_at) as as_of from events
    {%- endif %}
),

events_source_rows as (
    select
        'events' as trait_source,
        events.customer_id,
        events.occurred_at,
        events.event_name,
        events.event_channel,
        events.source_name,
        events.product_category,
        events.utm_source,
        events.utm_campaign,
        cast(null as numeric(18, 2)) as total_amount,
        cast(null as {{ dbt.type_string() }}) as financial_status
    from events
    where events.customer_id is not null
),

orders_source_rows as (
    select
        'orders' as trait_source,
        orders.customer_id,
        orders.ordered_at as occurred_at,
        null as event_name,
        orders.order_channel as event_channel,
        orders.source_name,
        null as product_category,
        null as utm_source,
        null as utm_campaign,
        orders.total_amount,
        orders.financial_status
    from orders
    where orders.customer_id is not null
),

{# Each aggregate reads only the rows it can use: its source's, and for the
    kinds with a grouping of their own, those meeting its condition. #}
{%- for source in ['events', 'orders'] %}

    {{ source }}_traits as (
        select
            source_rows.customer_id as trait_customer_id
            {%- for trait in registry if trait.name in plan.plain[source] %}
                ,
                cast(
                    {{ tessera.trait_aggregate(trait, condition[trait.name]) }}
                    as {{ tessera.data_type(trait.data_type) }}
                ) as {{ trait.name }}
            {%- endfor %}
        from {{ source }}_source_rows as source_rows
        cross join reference_time
        group by 1
    ),
{%- endfor %}
{%- for grouping in plan.groupings %}

    {{ grouping.name }} as (
        select
            source_rows.customer_id as trait_customer_id
            {%- for trait in grouping.traits %}
                ,
                cast(
                    {{ tessera.trait_aggregate(trait, grouping.condition) }}
                    as {{ tessera.data_type(trait.data_type) }}
                ) as {{ trait.name }}
            {%- endfor %}
        from {{ grouping.source }}_source_rows as source_rows
        cross join reference_time
        where {{ grouping.condition }}
        group by 1
    ),
{%- endfor %}

{# A cart add or checkout start is abandoned when no order completes within 24 hours after it. #}
cart_starts as (
    select
        customer_id,
        event_id,
        occurred_at
    from events
    where
        event_name in ('product_added', 'checkout_started')
        and customer_id is not null
),

completions as (
    select
        customer_id,
        occurred_at
    from events
    where
        event_name = 'order_completed'
        and customer_id is not null
),

abandoned_carts as (
    select
        cart_starts.customer_id,
        count(*) as cart_abandonment_count
    from cart_starts
    where
        not exists (
            select 1
            from completions
            where
                completions.customer_id = cart_starts.customer_id
                and completions.occurred_at >= cart_starts.occurred_at
                and completions.occurred_at
                <= {{ dbt.dateadd('hour', 24, 'cart_starts.occurred_at') }}
        )
    group by 1
),

surveys as (
    select
        customer_source_records.customer_id,
        {{ tessera.value_at_extreme('survey_responses.score', 'survey_responses.responded_at', "survey_responses.survey_type = 'nps'", 'last') }}
            as latest_nps,
        {{ tessera.value_at_extreme('survey_responses.score', 'survey_responses.responded_at', "survey_responses.survey_type = 'csat'", 'last') }}
            as latest_csat
    from survey_responses
    inner join customer_source_records
        on
            customer_source_records.source_name = 'support'
            and customer_source_records.table_name = 'survey_responses'
            and survey_responses.survey_response_id
            = customer_source_records.record_id
    group by 1
),

open_tickets as (
    select
        customer_source_records.customer_id,
        count(*) as open_support_tickets
    from tickets
    inner join customer_source_records
        on
            customer_source_records.source_name = 'support'
            and customer_source_records.table_name = 'tickets'
            and tickets.ticket_id = customer_source_records.record_id
    where tickets.is_open
    group by 1
),

loyalty_members as (
    select distinct customer_id
    from customer_identifiers
    where identifier_type = 'loyalty_card'
),

{# A customer with rows in any source gets every trait (a count of none is 0),
    one with none no trait. The trait groupings join customers here, once, where
    Postgres still knows its statistics. #}
with_orders as (
    select
        customers.customer_id,
        customers.country_code,
        customers.region,
        {%- for trait in registry %}
            {%- set relation = plan.relations[trait.name] %}
            {%- if trait.kind in ('count', 'distinct_count') %}
                case
                    when
                        events_traits.trait_customer_id is not null
                        or orders_traits.trait_customer_id is not null
                        then coalesce({{ relation }}.{{ trait.name }}, 0)
                end as {{ trait.name }},
            {%- else %}
                {{ relation }}.{{ trait.name }},
            {%- endif %}
        {%- endfor %}
        reference_time.as_of
    from customers
    cross join reference_time
    left join events_traits
        on customers.customer_id = events_traits.trait_customer_id
    left join orders_traits
        on customers.customer_id = orders_traits.trait_customer_id
    {%- for grouping in plan.groupings %}
        left join {{ grouping.name }}
            on customers.customer_id = {{ grouping.name }}.trait_customer_id
    {%- endfor %}
),

last_purchase_context as (
    select
        with_orders.customer_id,
        max(
            case when public_holidays.holiday_date is not null then 1 else 0 end
        )
        = 1 as last_purchase_on_public_holiday,
        max(case when weather_daily.is_rainy_day then 1 else 0 end)
        = 1 as last_purchase_on_rainy_day
    from with_orders
    left join public_holidays
        on
            public_holidays.holiday_date
            = cast(with_orders.last_order_at as date)
            and with_orders.country_code = public_holidays.country_code
            and (
                public_holidays.region is null
                or with_orders.region = public_holidays.region
            )
    left join weather_daily
        on
            weather_daily.weather_date = cast(with_orders.last_order_at as date)
            and with_orders.region = weather_daily.region
    where with_orders.last_order_at is not null
    group by 1
),

scored as (
    select
        with_orders.*,
        {{ dbt.datediff('with_orders.last_order_at', 'with_orders.as_of', 'day') }}             as days_since_last_order
    from with_orders
),

{# The RFM quintile scores rank the customers who ordered. A customer's count of
    customers at or below its value is a running count over the distinct values,
    so each score groups the customers once instead of sorting them all. A null
    value (recency with no as_of) takes the count of the null values' group
    (one row, null when there is none). #}
{%- set rfm_measures = [
    ('recency', 'scored.days_since_last_order', 'desc'),
    ('frequency', 'scored.orders_count', 'asc'),
    ('monetary', 'coalesce(scored.lifetime_revenue, 0)', 'asc'),
] %}

ordered_customers as (
    select
        scored.customer_id
        {%- for name, expression, direction in rfm_measures %}
            ,
            {{ expression }} as {{ name }}
        {%- endfor %}
    from scored
    where scored.last_order_at is not null
),

ordered_customers_total as (
    select count(*) as customers
    from ordered_customers
),
{%- for name, expression, direction in rfm_measures %}

    {{ name }}_values as (
        select
            {{ name }} as measure_value,
            count(*) as customers
        from ordered_customers
        group by 1
    ),

    {{ name }}_at_or_below as (
        select
            measure_value,
            cast(sum(customers) over (
                order by measure_value {{ direction }}
                rows between unbounded preceding and current row
            ) as bigint) as customers_at_or_below
        from {{ name }}_values
    ),

    {{ name }}_null_at_or_below as (
        select max(customers_at_or_below) as customers_at_or_below
        from {{ name }}_at_or_below
        where measure_value is null
    ),
{%- endfor %}

rfm_scores as (
    select
        ordered_customers.customer_id
        {%- for name, expression, direction in rfm_measures %}
            ,
            {{ tessera.quintile_score(
                'coalesce(' ~ name ~ '_at_or_below.customers_at_or_below, '
                ~ name ~ '_null_at_or_below.customers_at_or_below)',
                'ordered_customers_total.customers'
            ) }} as rfm_{{ name }}_score
        {%- endfor %}
    from ordered_customers
    cross join ordered_customers_total
    {%- for name, expression, direction in rfm_measures %}
        left join {{ name }}_at_or_below
            on
                ordered_customers.{{ name }}
                = {{ name }}_at_or_below.measure_value
        cross join {{ name }}_null_at_or_below
    {%- endfor %}
),

final as (
    select
        cast(scored.customer_id as {{ tessera.type_varchar() }}) as customer_id
        {%- for trait in registry %}
            ,
            scored.{{ trait.name }}
        
            {%- endfor %},
        cast(
            {{ tessera.divide('scored.lifetime_revenue', 'nullif(scored.orders_count, 0)') }}
            as {{ tessera.type_double() }}
        ) as average_order_value,
        cast(scored.days_since_last_order as bigint) as days_since_last_order,
        cast(case
            when scored.last_order_at is null then 'never_ordered'
            when scored.days_since_last_order <= 30 then 'active'
            when scored.days_since_last_order <= 90 then 'warm'
            when scored.days_since_last_order <= 365 then 'lapsing'
            else 'lapsed'
        end as {{ tessera.type_varchar() }}) as recency_bucket,
        cast(rfm_scores.rfm_recency_score as integer) as rfm_recency_score,
        cast(rfm_scores.rfm_frequency_score as integer) as rfm_frequency_score,
        cast(rfm_scores.rfm_monetary_score as integer) as rfm_monetary_score,
        cast(scored.email_opens_90_days as {{ tessera.type_double() }})
        / nullif(scored.email_sends_90_days, 0)
            as email_open_rate_90_days,
        cast(scored.email_clicks_90_days as {{ tessera.type_double() }})
        / nullif(scored.email_sends_90_days, 0)
            as email_click_rate_90_days,
        cast(coalesce(abandoned_carts.cart_abandonment_count, 0) as bigint)
            as cart_abandonment_count,
        cast(surveys.latest_nps as integer) as latest_nps,
        cast(surveys.latest_csat as integer) as latest_csat,
        cast(coalesce(open_tickets.open_support_tickets, 0) as bigint)
            as open_support_tickets,
        loyalty_members.customer_id is not null as is_loyalty_member,
        coalesce(last_purchase_context.last_purchase_on_public_holiday, false)
            as last_purchase_on_public_holiday,
        coalesce(last_purchase_context.last_purchase_on_rainy_day, false)
            as last_purchase_on_rainy_day,
        cast(scored.as_of as timestamp) as as_of
    from scored
    left join abandoned_carts
        on scored.customer_id = abandoned_carts.customer_id
    left join surveys
        on scored.customer_id = surveys.customer_id
    left join open_tickets
        on scored.customer_id = open_tickets.customer_id
    left join loyalty_members
        on scored.customer_id = loyalty_members.customer_id
    left join last_purchase_context
        on scored.customer_id = last_purchase_context.customer_id
    left join rfm_scores
        on scored.customer_id = rfm_scores.customer_id
)

select * from final
