-- Every customer whose latest history change is `entered` is a current member, and every current
-- member's latest change is `entered`: history and memberships never disagree after a build.
with

memberships as (
    select audience_name, customer_id from {{ ref('audience_memberships') }}
),

latest as (
    select audience_name, customer_id, change_kind
    from (
        select
            audience_name,
            customer_id,
            change_kind,
            row_number() over (
                partition by audience_name, customer_id
                order by changed_at desc, change_kind
            ) as recency_rank
        from {{ ref('audience_membership_history') }}
    ) as changes
    where recency_rank = 1
),

disagreements as (
    select
        coalesce(latest.audience_name, memberships.audience_name) as audience_name,
        coalesce(latest.customer_id, memberships.customer_id) as customer_id,
        latest.change_kind
    from latest
    full outer join memberships
        on latest.audience_name = memberships.audience_name
        and latest.customer_id = memberships.customer_id
    where (memberships.customer_id is null and latest.change_kind = 'entered')
        or (memberships.customer_id is not null and coalesce(latest.change_kind, 'missing') <> 'entered')
)

select * from disagreements
