{#-
    group() calls from a Segment / RudderStack warehouse: the user (or device) belongs to the account
    `group_id` (a company, a household, a team); the group's `name`, `industry` and `plan` traits are
    its name, industry and plan. The `accounts` table holds each group's latest traits, one row per
    group id (`id`), upserted by the loader on every group(): a row becomes an account-state row
    (`is_account_state`, message id `accounts:<id>`, no user), so a group whose calls the warehouse no
    longer keeps (retention, a pruned history, traits set server-side) still has its name. Both in one
    base model, so a bad accounts row is quarantined and counted with the calls; staging splits them
    (stg_events__groups, stg_events__accounts).
-#}
{%- set preset = tessera.source_preset('events') -%}
{{ config(
    enabled=preset.preset in ['segment', 'rudderstack'],
    pre_hook=tessera.utc_session(),
) }}
{%- set groups_relation = source('segment', 'groups') -%}
{%- set available = tessera.relation_columns(groups_relation) -%}
{%- set accounts_relation = source('segment', 'accounts') -%}
{%- set account_columns = tessera.relation_columns(accounts_relation) -%}

with

source as (
    {% if available is none -%}
        select 1 as no_table where 1 = 0
    {%- else -%}
        select * from {{ groups_relation }}
    {%- endif %}
),

accounts as (
    {% if account_columns is none -%}
        select 1 as no_table where 1 = 0
    {%- else -%}
        select * from {{ accounts_relation }}
    {%- endif %}
),

group_calls as (
    select
        {{ tessera.segment_common_columns(
            available or [], loaded_at=tessera.segment_loaded_at(available)
        ) }},
        nullif(trim({{ tessera.column_or_null('group_id', available or []) }}), '') as group_id,
        {{ tessera.column_or_null('name', available or []) }} as group_name,
        {{ tessera.column_or_null('industry', available or []) }} as group_industry,
        {{ tessera.column_or_null('plan', available or []) }} as group_plan,
        false as is_account_state
    from source
),

{#- An accounts row is no call: its time is when the loader received the traits, it has no user or context. -#}
account_rows as (
    {%- set a = tessera.column_or_null %}
    {%- set received = 'cast(' ~ a('received_at', account_columns or [], dbt.type_timestamp()) ~ ' as timestamp)' %}
    select
        {{ dbt.concat(["'accounts:'", a('id', account_columns or [])]) }} as message_id,
        cast(null as {{ dbt.type_string() }}) as anonymous_id,
        cast(null as {{ dbt.type_string() }}) as user_id,
        cast(null as {{ dbt.type_string() }}) as device_id,
        cast(null as {{ dbt.type_string() }}) as device_type,
        cast(null as {{ dbt.type_string() }}) as library_name,
        'web' as event_channel,
        cast(null as {{ dbt.type_string() }}) as ip_address,
        cast(null as {{ dbt.type_string() }}) as user_agent,
        cast(null as {{ dbt.type_string() }}) as page_url,
        cast(null as {{ dbt.type_string() }}) as utm_source,
        cast(null as {{ dbt.type_string() }}) as utm_medium,
        cast(null as {{ dbt.type_string() }}) as utm_campaign,
        {{ received }} as occurred_at,
        cast(null as timestamp) as sent_at,
        {{ received }} as received_at,
        cast({{ tessera.segment_loaded_at(account_columns) }} as timestamp) as loaded_at,
        nullif(trim({{ a('id', account_columns or []) }}), '') as group_id,
        {{ a('name', account_columns or []) }} as group_name,
        {{ a('industry', account_columns or []) }} as group_industry,
        {{ a('plan', account_columns or []) }} as group_plan,
        true as is_account_state
    from accounts
),

renamed as (
    select * from group_calls
    union all
    select * from account_rows
),

{#- A call's first delivery is staged; of an account's rows (the loader upserts one), the latest. -#}
deliveries as (
    select
        *,
        case
            when is_account_state
                then row_number() over (
                    partition by message_id
                    order by received_at desc, loaded_at desc
                )
            else row_number() over (
                partition by message_id
                order by received_at, loaded_at
            )
        end as delivery_number
    from renamed
),

final as (
    select
        *,
        {{ tessera.is_junk_identifier('anonymous_id', 'anonymous_id') }}
            as is_junk_anonymous_id,
        {{ tessera.segment_quarantine_checks(
            extra=[('group_id is null', 'missing group_id')],
            needs_person='not is_account_state',
        ) }} as quarantine_reason
    from deliveries
)

select * from final
