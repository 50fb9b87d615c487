{#-
    Every entry into and exit from an audience, per build; never rebuilt from scratch. A customer
    was a member at time T when their latest change at or before T is `entered`.
    It builds after journey_launches, so the changes of a build that launches a journey are stamped
    after the launch, and that journey enters them (docs/journeys.md, "Who enters").
-#}
-- depends_on: {{ ref('journey_launches') }}
{{
    config(
        materialized='incremental',
        incremental_strategy='append',
        full_refresh=false,
        on_schema_change='append_new_columns',
    )
}}

with

current_members as (
    select audience_name, customer_id from {{ ref('audience_memberships') }}
),

previous_members as (
    {% if is_incremental() %}
    select audience_name, customer_id
    from (
        select
            audience_name,
            customer_id,
            change_kind,
            row_number() over (
                partition by audience_name, customer_id
                order by changed_at desc, change_kind
            ) as recency_rank
        from {{ this }}
    ) as changes
    where recency_rank = 1
        and change_kind = 'entered'
    {% else %}
    select
        cast(null as {{ dbt.type_string() }}) as audience_name,
        cast(null as {{ dbt.type_string() }}) as customer_id
    where 1 = 0
    {% endif %}
),

entered as (
    select current_members.audience_name, current_members.customer_id, 'entered' as change_kind
    from current_members
    left join previous_members
        on current_members.audience_name = previous_members.audience_name
        and current_members.customer_id = previous_members.customer_id
    where previous_members.customer_id is null
),

exited as (
    select previous_members.audience_name, previous_members.customer_id, 'exited' as change_kind
    from previous_members
    left join current_members
        on previous_members.audience_name = current_members.audience_name
        and previous_members.customer_id = current_members.customer_id
    where current_members.customer_id is null
),

final as (
    select
        cast(audience_name as {{ tessera.type_varchar() }}) as audience_name,
        cast(customer_id as {{ tessera.type_varchar() }}) as customer_id,
        cast(change_kind as {{ tessera.type_varchar() }}) as change_kind,
        cast('{{ invocation_id }}' as {{ tessera.type_varchar() }}) as build_id,
        {{ tessera.utc_now() }} as changed_at
    from entered
    union all
    select
        cast(audience_name as {{ tessera.type_varchar() }}) as audience_name,
        cast(customer_id as {{ tessera.type_varchar() }}) as customer_id,
        cast(change_kind as {{ tessera.type_varchar() }}) as change_kind,
        cast('{{ invocation_id }}' as {{ tessera.type_varchar() }}) as build_id,
        {{ tessera.utc_now() }} as changed_at
    from exited
)

select * from final
