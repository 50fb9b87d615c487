{#-
    Which accounts (Segment / RudderStack group() calls: a company, a household, a team) each customer
    belongs to. A call belongs to the customer of its user_id when logged in, else of its device, as in
    the events mart. Calls no customer can be tied to are kept, with customer_id null, one row per
    group, so none is silently left out. The group's name is the loader's latest state of the group
    (the `accounts` table), else the latest one a call gave. A group only the `accounts` table still
    knows (its calls are gone) is kept too, with customer_id null and no calls.
-#}
with

groups as (
    select * from {{ ref('stg_events__groups') }}
),

accounts as (
    select * from {{ ref('stg_events__accounts') }}
),

customer_identifiers as (
    select * from {{ ref('customer_identifiers') }}
),

placed as (
    select
        groups.group_id,
        groups.group_name,
        groups.occurred_at,
        coalesce(by_user.customer_id, by_device.customer_id) as customer_id
    from groups
    left join customer_identifiers as by_user
        on
            by_user.identifier_type = 'shop_customer_id'
            and groups.user_id = by_user.identifier_value
    left join customer_identifiers as by_device
        on
            by_device.identifier_type = 'anonymous_id'
            and groups.anonymous_id = by_device.identifier_value
),

ranked as (
    select
        customer_id,
        group_id,
        group_name,
        count(*) over (
            partition by customer_id, group_id
        ) as group_call_count,
        min(occurred_at) over (
            partition by customer_id, group_id
        ) as first_grouped_at,
        max(occurred_at) over (
            partition by customer_id, group_id
        ) as last_grouped_at,
        row_number() over (
            partition by customer_id, group_id
            order by
                case when group_name is null then 1 else 0 end,
                occurred_at desc
        ) as name_rank
    from placed
),

memberships as (
    select
        ranked.customer_id,
        ranked.group_id,
        coalesce(accounts.group_name, ranked.group_name) as group_name,
        ranked.group_call_count,
        ranked.first_grouped_at,
        ranked.last_grouped_at
    from ranked
    left join accounts
        on ranked.group_id = accounts.group_id
    where ranked.name_rank = 1
),

accounts_without_calls as (
    select
        cast(null as {{ dbt.type_string() }}) as customer_id,
        accounts.group_id,
        accounts.group_name,
        cast(0 as {{ dbt.type_bigint() }}) as group_call_count,
        cast(null as timestamp) as first_grouped_at,
        cast(null as timestamp) as last_grouped_at
    from accounts
    where not exists (
        select 1 from groups
        where groups.group_id = accounts.group_id
    )
),

final as (
    select * from memberships
    union all
    select * from accounts_without_calls
)

select * from final
