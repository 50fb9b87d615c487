{#-
    Snowplow's mobile screen views (the snowplow preset's screen_view events), into the columns of the
    other presets' base_events__screens. The screen's name is read from the self-describing event's
    JSON (base_events__snowplow_events; null when the JSON is malformed, docs/sources.md).
-#}
{{ config(
    enabled=tessera.source_preset('events').preset == 'snowplow',
) }}

with

snowplow_events as (
    select * from {{ ref('base_events__snowplow_events') }}
),

screens as (
    select
        message_id,
        {{ tessera.event_call_columns() }},
        screen_name,
        delivery_number
    from snowplow_events
    where event_kind = 'screen'
),

final as (
    select
        *,
        {{ tessera.is_junk_identifier('anonymous_id', 'anonymous_id') }}
            as is_junk_anonymous_id,
        {{ tessera.segment_quarantine_checks() }} as quarantine_reason
    from screens
)

select * from final
