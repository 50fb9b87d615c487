{#-
    The mapped preset's events but page views, into the columns of the other presets'
    base_events__tracks; base_events__mapped_events holds the reading.
-#}
{{ config(
    enabled=tessera.source_preset('events').preset == 'mapped',
) }}

with

mapped_events as (
    select * from {{ ref('base_events__mapped_events') }}
),

tracks as (
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
        event_name,
        event_text,
        product_id,
        product_category,
        price,
        order_id,
        revenue,
        delivery_number
    from mapped_events
    where event_kind = 'track'
),

final as (
    select
        *,
        {{ tessera.is_junk_identifier('anonymous_id', 'anonymous_id') }}
            as is_junk_anonymous_id,
        {{ tessera.segment_quarantine_checks(
            [("event_name is null", "missing event name")]
        ) }} as quarantine_reason
    from tracks
)

select * from final
