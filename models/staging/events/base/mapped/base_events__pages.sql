{#-
    The mapped preset's page views (the events named `page_event`), into the columns of the other
    presets' base_events__pages: the url, path, title and referrer are the event's properties of those
    names (base_events__mapped_events).
-#}
{{ config(
    enabled=tessera.source_preset('events').preset == 'mapped',
) }}

with

mapped_events as (
    select * from {{ ref('base_events__mapped_events') }}
),

pages as (
    select
        message_id,
        anonymous_id,
        user_id,
        device_id,
        device_type,
        library_name,
        event_channel,
        ip_address,
        user_agent,
        page_url,
        utm_source,
        utm_medium,
        utm_campaign,
        occurred_at,
        sent_at,
        received_at,
        loaded_at,
        page_path,
        page_url as page_full_url,
        page_title,
        referrer,
        delivery_number
    from mapped_events
    where event_kind = 'page'
),

final as (
    select
        *,
        {{ tessera.is_junk_identifier('anonymous_id', 'anonymous_id') }}
            as is_junk_anonymous_id,
        {{ tessera.segment_quarantine_checks() }} as quarantine_reason
    from pages
)

select * from final
