{#- An events preset that reads one table of events (Snowplow's atomic events, the mapped preset's own
    table) stages its calls from its reading model `events`: one row per delivery, with event_kind
    ('track' or 'page'), delivery_number and the staging columns of the other presets' base models. -#}
{#-
    A table of events has no identify call: an app or site sets the user id on the events a logged-in
    person sends, beside the device's or browser's anonymous id. Like the Snowplow web package's user
    stitching, each (anonymous_id, user_id) pair seen together is a login: one identify row per pair, at
    the first event that carried it (a plausible timestamp first), without traits. Its message_id is that
    event's id with ':identify', so it does not repeat the event's own id in the events mart. Duplicate
    deliveries are left out first; suppression and the timestamp checks apply as to any identify row.
-#}
{% macro event_table_identifies(events) -%}
logins as (
    select
        *,
        row_number() over (
            partition by anonymous_id, user_id
            order by
                case
                    when {{ tessera.is_plausible_timestamp('occurred_at') }}
                        then 0
                    else 1
                end,
                occurred_at,
                message_id
        ) as login_number
    from {{ events }}
    where
        delivery_number = 1
        and anonymous_id is not null
        and user_id is not null
),

first_logins as (
    select
        message_id || ':identify' as message_id,
        {{ tessera.event_call_columns() }},
        cast(null as {{ dbt.type_string() }}) as first_name,
        cast(null as {{ dbt.type_string() }}) as last_name,
        cast(null as {{ dbt.type_string() }}) as email,
        cast(null as {{ dbt.type_string() }}) as phone
    from logins
    where login_number = 1
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
        cast(1 as {{ dbt.type_bigint() }}) as delivery_number
    from first_logins
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
            ('anonymous_id', 'anonymous_id'), ('shop_customer_id', 'user_id'),
        ]) }} as quarantine_reason
    from renamed
)
{%- endmacro %}
