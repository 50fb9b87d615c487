{#-
    Email engagement as Fivetran's Klaviyo connector writes it (the
    fivetran_klaviyo preset), into the same columns as the demo preset's
    base_esp__email_events. Klaviyo's `event` holds every metric of a
    profile (orders, page views, SMS, …): the email ones are staged, named
    by their metric (`metric.name`, else the event's own `type` in older
    syncs); the recipient's email is the profile's (`person`). The campaign
    is the event's campaign, else its flow. An event Klaviyo deleted, or one
    of a deleted profile, is kept here and quarantined: counted, never
    staged.
-#}
{{ config(
    enabled=tessera.source_preset('esp').preset == 'fivetran_klaviyo',
    pre_hook=tessera.utc_session(),
) }}
{%- set event_cols = tessera.fivetran_table(
    'fivetran_klaviyo', 'esp', 'event', required=true,
    columns=['id', 'person_id', '_fivetran_synced']) -%}
{%- set person_cols = tessera.fivetran_table(
    'fivetran_klaviyo', 'esp', 'person', required=true, columns=['id']) -%}
{%- set metric_cols = tessera.fivetran_table(
    'fivetran_klaviyo', 'esp', 'metric', columns=['id']) -%}
{%- set campaign_cols = tessera.fivetran_table(
    'fivetran_klaviyo', 'esp', 'campaign', columns=['id']) -%}
{%- set flow_cols = tessera.fivetran_table(
    'fivetran_klaviyo', 'esp', 'flow', columns=['id']) -%}
{%- set text = dbt.type_string() -%}
{%- set stamp = dbt.type_timestamp() -%}
{#- Klaviyo's email metrics -> the contract's event types. -#}
{%- set email_metrics = {
    'received email': 'send',
    'opened email': 'open',
    'clicked email': 'click',
    'bounced email': 'bounce',
    'unsubscribed': 'unsubscribe',
    'unsubscribed from email marketing': 'unsubscribe',
} -%}
{%- set metric_types = [] -%}
{%- set metric_names = [] -%}
{%- for metric, event_type in email_metrics.items() -%}
    {%- do metric_types.append(
        "when '" ~ metric ~ "' then '" ~ event_type ~ "'") -%}
    {%- do metric_names.append("'" ~ metric ~ "'") -%}
{%- endfor -%}

with

source as (
    {% if event_cols is none -%}
        select 1 as no_table where 1 = 0
    {%- else -%}
        select * from {{ source('fivetran_klaviyo', 'event') }}
    {%- endif %}
),

{#- id -> name of the connector's optional tables (no rows when absent). #}

metric_names as (
    {% if metric_cols is none -%}
        select
            cast(null as {{ text }}) as metric_id,
            cast(null as {{ text }}) as metric_name
        where 1 = 0
    {%- else -%}
        select
            cast(id as {{ text }}) as metric_id,
            {{ tessera.column_or_null('name', metric_cols) }} as metric_name
        from {{ source('fivetran_klaviyo', 'metric') }}
    {%- endif %}
),

campaign_names as (
    {% if campaign_cols is none -%}
        select
            cast(null as {{ text }}) as campaign_id,
            cast(null as {{ text }}) as campaign_name
        where 1 = 0
    {%- else -%}
        select
            cast(id as {{ text }}) as campaign_id,
            {{ tessera.column_or_null('name', campaign_cols) }} as campaign_name
        from {{ source('fivetran_klaviyo', 'campaign') }}
    {%- endif %}
),

flow_names as (
    {% if flow_cols is none -%}
        select
            cast(null as {{ text }}) as flow_id,
            cast(null as {{ text }}) as flow_name
        where 1 = 0
    {%- else -%}
        select
            cast(id as {{ text }}) as flow_id,
            {{ tessera.column_or_null('name', flow_cols) }} as flow_name
        from {{ source('fivetran_klaviyo', 'flow') }}
    {%- endif %}
),

people as (
    {% if person_cols is none -%}
        select
            cast(null as {{ text }}) as person_id,
            cast(null as {{ text }}) as email,
            false as is_deleted
        where 1 = 0
    {%- else -%}
        select
            cast(id as {{ text }}) as person_id,
            {{ tessera.column_or_null('email', person_cols) }} as email,
            {{ tessera.fivetran_soft_deleted(person_cols) }} as is_deleted
        from {{ source('fivetran_klaviyo', 'person') }}
    {%- endif %}
),

events as (
    select
        cast(source.id as {{ text }}) as event_id,
        cast(source.person_id as {{ text }}) as person_id,
        cast(
            {{ tessera.column_or_null('metric_id', event_cols) }} as {{ text }}
        ) as metric_id,
        cast(
            {{ tessera.column_or_null('campaign_id', event_cols) }}
            as {{ text }}
        ) as campaign_id,
        cast(
            {{ tessera.column_or_null('flow_id', event_cols) }} as {{ text }}
        ) as flow_id,
        {{ tessera.column_or_null('type', event_cols) }} as event_type,
        {{ tessera.column_or_null('property_url', event_cols) }} as url,
        cast(
            coalesce(
                {{ tessera.column_or_null('timestamp', event_cols, stamp) }},
                {{ tessera.column_or_null('datetime', event_cols, stamp) }}
            ) as timestamp
        ) as occurred_at,
        cast(source._fivetran_synced as timestamp) as loaded_at,
        {{ tessera.fivetran_soft_deleted(event_cols, 'source.') }}
            as is_deleted
    from source
),

named as (
    select
        events.*,
        lower(trim(coalesce(metric_names.metric_name, events.event_type)))
            as metric_name
    from events
    left join metric_names on events.metric_id = metric_names.metric_id
),

email_events as (
    select
        named.*,
        case named.metric_name {{ metric_types | join(' ') }}
        end as email_event_type
    from named
    where named.metric_name in ({{ metric_names | join(', ') }})
),

renamed as (
    select
        email_events.event_id as email_event_id,
        people.email as email_raw,
        {{ tessera.normalize_email('people.email') }} as email,
        coalesce(email_events.campaign_id, email_events.flow_id)
            as campaign_id,
        coalesce(campaign_names.campaign_name, flow_names.flow_name)
            as campaign_name,
        email_events.email_event_type,
        email_events.url as clicked_url,
        email_events.occurred_at,
        email_events.loaded_at,
        email_events.is_deleted,
        coalesce(people.is_deleted, false) as is_person_deleted
    from email_events
    left join people on email_events.person_id = people.person_id
    left join campaign_names
        on email_events.campaign_id = campaign_names.campaign_id
    left join flow_names on email_events.flow_id = flow_names.flow_id
),

final as (
    select
        email_event_id,
        email_raw,
        email,
        campaign_id,
        campaign_name,
        email_event_type,
        clicked_url,
        occurred_at,
        loaded_at,
        {{ tessera.is_junk_identifier('email', 'email') }} as is_junk_email,
        {{ tessera.quarantine_reason([
            tessera.suppression_check([('email', 'email')]),
            ("is_deleted", "deleted in source"),
            ("is_person_deleted", "person deleted in source"),
            ("email_event_id is null", "missing primary key"),
            ("email is null", "missing email"),
            ("occurred_at is null", "missing occurred_at"),
            ("not " ~ tessera.is_plausible_timestamp("occurred_at"),
                "occurred_at out of range"),
        ]) }} as quarantine_reason
    from renamed
)

select * from final
