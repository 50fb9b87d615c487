{#-
    Point-in-time features per customer, as of two cut-offs:
      training  as_of minus var prediction_training_cutoff_days (365): features, plus the labels
                observed in the horizons after the cut-off;
      scoring   as_of (the latest event, or var predictions_as_of): features only.
    The leakage guard is structural: every feature is computed from `history`, which holds only
    rows at or before their snapshot's cut-off; labels come from `future` alone (rows after it).
    Activity is what the customer did (web/app events, email opens/clicks, store and shop
    purchases), not what was done to them (email sends, bounces) and not unsubscribes.
-#}
{%- set cutoff_days = var('prediction_training_cutoff_days', 365) -%}
{%- set churn_days = var('churn_inactivity_days', 180) -%}
{%- set as_of_var = var('predictions_as_of', var('traits_as_of', none)) -%}

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

tickets as (
    select * from {{ ref('stg_support__tickets') }}
),

survey_responses as (
    select * from {{ ref('stg_support__survey_responses') }}
),

customer_source_records as (
    select * from {{ ref('customer_source_records') }}
),

reference_time as (
    {%- if as_of_var %}
        select cast('{{ as_of_var }}' as timestamp) as as_of
    {%- else %}
        {#- A world with no events yet (a new install) still gets a date. -#}
        select
            coalesce(
                (select max(events.occurred_at) as last_event_at from events),
                (select max(orders.ordered_at) as last_order_at from orders),
                cast({{ dbt.current_timestamp() }} as timestamp)
            ) as as_of
    {%- endif %}
),

snapshots as (
    select
        'training' as snapshot_name,
        {{ dbt.dateadd('day', -1 * cutoff_days, 'reference_time.as_of') }}
            as cutoff_at
    from reference_time
    union all
    select
        'scoring' as snapshot_name,
        reference_time.as_of as cutoff_at
    from reference_time
),

{# One row per thing a customer did or received, on one timeline. #}
timeline as (
    select
        customer_id,
        event_name as activity_name,
        event_channel as activity_channel,
        cast(null as numeric(18, 2)) as revenue,
        occurred_at
    from events
    where customer_id is not null
    union all
    select
        customer_id,
        'order' as activity_name,
        order_channel as activity_channel,
        total_amount as revenue,
        ordered_at as occurred_at
    from orders
    where
        customer_id is not null
        and financial_status = 'paid'
    union all
    select
        customer_source_records.customer_id,
        'support_ticket' as activity_name,
        tickets.ticket_channel as activity_channel,
        null as revenue,
        tickets.created_at as occurred_at
    from tickets
    inner join customer_source_records
        on
            customer_source_records.source_name = 'support'
            and customer_source_records.table_name = 'tickets'
            and tickets.ticket_id = customer_source_records.record_id
),

classified as (
    select
        timeline.*,
        timeline.activity_name not in (
            'email_send', 'email_bounce', 'email_unsubscribe', 'support_ticket'
        ) as is_activity
    from timeline
),

{# The guard: a snapshot sees only rows at or before its cut-off. #}
history as (
    select
        snapshots.snapshot_name,
        snapshots.cutoff_at,
        classified.*,
        {{ dbt.datediff(
            'classified.occurred_at', 'snapshots.cutoff_at', 'day'
        ) }} as days_before_cutoff
    from classified
    inner join snapshots
        on classified.occurred_at <= snapshots.cutoff_at
),

future as (
    select
        classified.customer_id,
        {{ dbt.datediff(
            'snapshots.cutoff_at', 'classified.occurred_at', 'day'
        ) }} as days_after_cutoff,
        classified.activity_name,
        classified.revenue,
        classified.is_activity
    from classified
    inner join snapshots
        on classified.occurred_at > snapshots.cutoff_at
    where snapshots.snapshot_name = 'training'
),

surveys as (
    select
        customer_source_records.customer_id,
        survey_responses.survey_type,
        survey_responses.score,
        survey_responses.responded_at
    from survey_responses
    inner join customer_source_records
        on
            customer_source_records.source_name = 'support'
            and customer_source_records.table_name = 'survey_responses'
            and survey_responses.survey_response_id
            = customer_source_records.record_id
),

survey_features as (
    select
        snapshots.snapshot_name,
        surveys.customer_id,
        avg(
            case
                when surveys.survey_type = 'nps' then surveys.score
            end
        ) as avg_nps_score,
        avg(
            case
                when surveys.survey_type = 'csat' then surveys.score
            end
        ) as avg_csat_score
    from surveys
    inner join snapshots
        on surveys.responded_at <= snapshots.cutoff_at
    group by 1, 2
),

activity_features as (
    select
        snapshot_name,
        customer_id,
        min(case when is_activity then occurred_at end) as first_activity_at,
        max(case when is_activity then occurred_at end) as last_activity_at,
        max(
            case
                when activity_name = 'order' then occurred_at
            end
        ) as last_order_at,
        sum(
            case
                when activity_name = 'order' then 1
                else 0
            end
        ) as orders_count,
        sum(
            case
                when activity_name = 'order' and days_before_cutoff < 90 then 1
                else 0
            end
        ) as orders_90_days,
        sum(
            case
                when activity_name = 'order' and days_before_cutoff < 365 then 1
                else 0
            end
        ) as orders_365_days,
        sum(
            case
                when activity_name = 'order' then revenue
                else 0
            end
        ) as revenue_total,
        sum(
            case
                when activity_name = 'order' and days_before_cutoff < 365
                    then revenue
                else 0
            end
        ) as revenue_365_days,
        sum(
            case
                when is_activity and days_before_cutoff < 30 then 1
                else 0
            end
        ) as activities_30_days,
        sum(
            case
                when is_activity and days_before_cutoff < 90 then 1
                else 0
            end
        ) as activities_90_days,
        sum(
            case
                when
                    is_activity
                    and days_before_cutoff >= 90
                    and days_before_cutoff < 180
                    then 1
                else 0
            end
        ) as activities_90_to_180_days,
        sum(
            case
                when activity_name = 'page_viewed' and days_before_cutoff < 90
                    then 1
                else 0
            end
        ) as page_views_90_days,
        sum(
            case
                when
                    activity_name = 'product_viewed'
                    and days_before_cutoff < 90
                    then 1
                else 0
            end
        ) as product_views_90_days,
        sum(
            case
                when
                    activity_name in ('product_added', 'checkout_started')
                    and days_before_cutoff < 90
                    then 1
                else 0
            end
        ) as cart_adds_90_days,
        sum(
            case
                when
                    activity_name = 'store_purchase'
                    and days_before_cutoff < 365
                    then 1
                else 0
            end
        ) as store_purchases_365_days,
        sum(
            case
                when activity_name = 'email_send' and days_before_cutoff < 90
                    then 1
                else 0
            end
        ) as email_sends_90_days,
        sum(
            case
                when activity_name = 'email_open' and days_before_cutoff < 90
                    then 1
                else 0
            end
        ) as email_opens_90_days,
        sum(
            case
                when activity_name = 'email_click' and days_before_cutoff < 90
                    then 1
                else 0
            end
        ) as email_clicks_90_days,
        sum(
            case
                when activity_name = 'email_unsubscribe' then 1
                else 0
            end
        ) as email_unsubscribes,
        sum(
            case
                when
                    activity_name = 'support_ticket'
                    and days_before_cutoff < 90
                    then 1
                else 0
            end
        ) as support_tickets_90_days,
        sum(
            case
                when
                    activity_name = 'support_ticket'
                    and days_before_cutoff < 365
                    then 1
                else 0
            end
        ) as support_tickets_365_days,
        max(cutoff_at) as cutoff_at
    from history
    group by 1, 2
),

{# Purchase occasions (days with a paid order) for BG/NBD:
    repeat count, recency, age, repeat spend. #}
order_days as (
    select
        snapshot_name,
        customer_id,
        cast(occurred_at as date) as order_date,
        sum(revenue) as day_revenue,
        max(cutoff_at) as cutoff_at
    from history
    where activity_name = 'order'
    group by 1, 2, 3
),

order_days_ranked as (
    select
        order_days.*,
        min(order_days.order_date) over (
            partition by order_days.snapshot_name, order_days.customer_id
        ) as first_order_date
    from order_days
),

purchase_occasions as (
    select
        snapshot_name,
        customer_id,
        count(*) - 1 as repeat_purchases,
        {{ dbt.datediff('min(order_date)', 'max(order_date)', 'day') }}
            as days_first_to_last_purchase,
        {{ dbt.datediff('min(order_date)', 'max(cutoff_at)', 'day') }}
            as days_first_purchase_to_cutoff,
        {{ tessera.divide(
            'sum(case when order_date > first_order_date then day_revenue end)',
            'nullif(count(*) - 1, 0)'
        ) }} as repeat_purchase_mean_value
    from order_days_ranked
    group by 1, 2
),

labels as (
    select
        customer_id,
        max(
            case
                when is_activity and days_after_cutoff <= {{ churn_days }}
                    then 1
                else 0
            end
        ) = 1 as is_active_in_churn_window,
        max(
            case
                when activity_name = 'order' and days_after_cutoff <= 30 then 1
                else 0
            end
        ) = 1 as has_purchased_next_30_days,
        sum(
            case
                when activity_name = 'order' and days_after_cutoff <= 365
                    then revenue
                else 0
            end
        ) as revenue_next_365_days
    from future
    group by 1
),

final as (
    select
        customers.customer_id,
        snapshots.snapshot_name,
        {{ tessera.hash_bucket("'predictions:' || customers.customer_id") }}
        < 25 as is_evaluation_holdout,
        coalesce(activity_features.first_activity_at is not null, false)
            as has_history,
        coalesce(
            {{ dbt.datediff(
                'activity_features.last_activity_at',
                'snapshots.cutoff_at',
                'day'
            ) }} <= 365,
            false
        ) as is_active_customer,
        {{ dbt.datediff(
            'activity_features.first_activity_at', 'snapshots.cutoff_at', 'day'
        ) }} as tenure_days,
        {{ dbt.datediff(
            'activity_features.last_activity_at', 'snapshots.cutoff_at', 'day'
        ) }} as days_since_last_activity,
        {{ dbt.datediff(
            'activity_features.last_order_at', 'snapshots.cutoff_at', 'day'
        ) }} as days_since_last_order,
        coalesce(activity_features.orders_count, 0) as orders_count,
        coalesce(activity_features.orders_90_days, 0) as orders_90_days,
        coalesce(activity_features.orders_365_days, 0) as orders_365_days,
        cast(coalesce(activity_features.revenue_total, 0) as {{ tessera.type_double() }})
            as revenue_total,
        cast(
            coalesce(activity_features.revenue_365_days, 0) as {{ tessera.type_double() }}
        ) as revenue_365_days,
        coalesce(activity_features.activities_30_days, 0) as activities_30_days,
        coalesce(activity_features.activities_90_days, 0) as activities_90_days,
        coalesce(activity_features.activities_90_to_180_days, 0)
            as activities_90_to_180_days,
        coalesce(activity_features.page_views_90_days, 0) as page_views_90_days,
        coalesce(activity_features.product_views_90_days, 0)
            as product_views_90_days,
        coalesce(activity_features.cart_adds_90_days, 0) as cart_adds_90_days,
        coalesce(activity_features.store_purchases_365_days, 0)
            as store_purchases_365_days,
        coalesce(activity_features.email_sends_90_days, 0)
            as email_sends_90_days,
        coalesce(activity_features.email_opens_90_days, 0)
            as email_opens_90_days,
        coalesce(activity_features.email_clicks_90_days, 0)
            as email_clicks_90_days,
        coalesce(activity_features.email_unsubscribes, 0) as email_unsubscribes,
        coalesce(activity_features.support_tickets_90_days, 0)
            as support_tickets_90_days,
        coalesce(activity_features.support_tickets_365_days, 0)
            as support_tickets_365_days,
        cast(survey_features.avg_nps_score as {{ tessera.type_double() }})
            as avg_nps_score,
        cast(survey_features.avg_csat_score as {{ tessera.type_double() }})
            as avg_csat_score,
        purchase_occasions.repeat_purchases,
        purchase_occasions.days_first_to_last_purchase,
        purchase_occasions.days_first_purchase_to_cutoff,
        cast(purchase_occasions.repeat_purchase_mean_value as {{ tessera.type_double() }})
            as repeat_purchase_mean_value,
        case
            when snapshots.snapshot_name = 'training'
                then not coalesce(labels.is_active_in_churn_window, false)
        end as label_churned,
        case
            when snapshots.snapshot_name = 'training'
                then coalesce(labels.has_purchased_next_30_days, false)
        end as label_purchased_30_days,
        case
            when snapshots.snapshot_name = 'training'
                then
                    cast(
                        coalesce(labels.revenue_next_365_days, 0)
                        as {{ tessera.type_double() }}
                    )
        end as label_revenue_365_days,
        snapshots.cutoff_at
    from customers
    cross join snapshots
    left join activity_features
        on
            customers.customer_id = activity_features.customer_id
            and snapshots.snapshot_name = activity_features.snapshot_name
    left join survey_features
        on
            customers.customer_id = survey_features.customer_id
            and snapshots.snapshot_name = survey_features.snapshot_name
    left join purchase_occasions
        on
            customers.customer_id = purchase_occasions.customer_id
            and snapshots.snapshot_name = purchase_occasions.snapshot_name
    left join labels
        on
            customers.customer_id = labels.customer_id
            and snapshots.snapshot_name = 'training'
)

select * from final
