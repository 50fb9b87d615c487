{#-
    identify() and alias() calls from a Segment / RudderStack warehouse, into the demo preset's
    base_events__identifies columns. An alias says `previous_id` and `user_id` are one person, which is
    what identity reads an identify row's anonymous_id and user_id to mean: so an alias becomes an
    identify row without traits (anonymous_id = previous_id). The `users` table holds each user's latest
    traits, one row per user id (`id`), rewritten by the loader on every identify: a row becomes an
    identify row with message id `users:<id>`, so a user whose identify calls the warehouse no longer
    keeps (retention, a pruned history, traits set server-side) still joins her email and phone. Three
    source tables in one base model, because identity reads this one contract for the login links.
-#}
{%- set preset = tessera.source_preset('events') -%}
{{ config(
    enabled=preset.preset in ['segment', 'rudderstack'],
    pre_hook=tessera.utc_session(),
) }}
{%- set identifies_relation = source('segment', 'identifies') -%}
{%- set aliases_relation = source('segment', 'aliases') -%}
{%- set identified = tessera.relation_columns(identifies_relation) -%}
{%- set aliased = tessera.relation_columns(aliases_relation) -%}
{%- set users_relation = source('segment', 'users') -%}
{%- set user_columns = tessera.relation_columns(users_relation) -%}

with

identifies as (
    {% if identified is none -%}
        select 1 as no_table where 1 = 0
    {%- else -%}
        select * from {{ identifies_relation }}
    {%- endif %}
),

aliases as (
    {% if aliased is none -%}
        select 1 as no_table where 1 = 0
    {%- else -%}
        select * from {{ aliases_relation }}
    {%- endif %}
),

users as (
    {% if user_columns is none -%}
        select 1 as no_table where 1 = 0
    {%- else -%}
        select * from {{ users_relation }}
    {%- endif %}
),

identify_calls as (
    select
        {{ tessera.segment_common_columns(
            identified or [], loaded_at=tessera.segment_loaded_at(identified)
        ) }},
        {{ tessera.column_or_null('first_name', identified or []) }} as first_name,
        {{ tessera.column_or_null('last_name', identified or []) }} as last_name,
        {{ tessera.column_or_null('email', identified or []) }} as email,
        {{ tessera.column_or_null('phone', identified or []) }} as phone
    from identifies
),

alias_calls as (
    select
        {{ tessera.segment_common_columns(
            aliased or [], loaded_at=tessera.segment_loaded_at(aliased), anonymous_id='previous_id'
        ) }},
        cast(null as {{ dbt.type_string() }}) as first_name,
        cast(null as {{ dbt.type_string() }}) as last_name,
        cast(null as {{ dbt.type_string() }}) as email,
        cast(null as {{ dbt.type_string() }}) as phone
    from aliases
),

{#- A users row is no call: its time is when the loader received the traits, it has no context. -#}
user_rows as (
    {%- set u = tessera.column_or_null %}
    select
        {{ dbt.concat(["'users:'", u('id', user_columns or [])]) }} as message_id,
        cast(null as {{ dbt.type_string() }}) as anonymous_id,
        nullif(trim({{ u('id', user_columns or []) }}), '') as user_id,
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
        cast({{ u('received_at', user_columns or [], dbt.type_timestamp()) }} as timestamp) as occurred_at,
        cast(null as timestamp) as sent_at,
        cast({{ u('received_at', user_columns or [], dbt.type_timestamp()) }} as timestamp) as received_at,
        cast({{ tessera.segment_loaded_at(user_columns) }} as timestamp) as loaded_at,
        {{ u('first_name', user_columns or []) }} as first_name,
        {{ u('last_name', user_columns or []) }} as last_name,
        {{ u('email', user_columns or []) }} as email,
        {{ u('phone', user_columns or []) }} as phone
    from users
),

calls as (
    select * from identify_calls
    union all
    select * from alias_calls
    union all
    select * from user_rows
),

renamed as (
    select
        message_id,
        {{ tessera.event_call_columns() }},
        {{ tessera.clean_text('first_name') }} as first_name,
        {{ tessera.clean_text('last_name') }} as last_name,
        email as email_raw,
        {{ tessera.normalize_email('email') }} as email,
        phone as phone_raw,
        {{ tessera.normalize_phone('phone') }} as phone,
        row_number() over (
            partition by message_id
            order by received_at, loaded_at
        ) as delivery_number
    from calls
),

final as (
    select
        *,
        {{ tessera.is_valid_email('email') }} as is_valid_email,
        {{ tessera.is_junk_identifier('email', 'email') }} as is_junk_email,
        {{ tessera.is_junk_identifier('phone', 'phone') }} as is_junk_phone,
        {{ tessera.email_issue('email') }} as email_issue,
        {{ tessera.phone_issue('phone_raw', 'phone') }} as phone_issue,
        {{ tessera.is_junk_identifier('anonymous_id', 'anonymous_id') }}
            as is_junk_anonymous_id,
        {{ tessera.segment_quarantine_checks(suppressed=[
            ('anonymous_id', 'anonymous_id'), ('shop_customer_id', 'user_id'), ('email', 'email'), ('phone', 'phone'),
        ]) }} as quarantine_reason
    from renamed
)

select * from final
