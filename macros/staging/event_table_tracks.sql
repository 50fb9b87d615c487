{#- An events preset that reads one table of events (Snowplow's atomic events, the mapped preset's own
    table) stages its calls from its reading model `events`: one row per delivery, with event_kind
    ('track' or 'page'), delivery_number and the staging columns of the other presets' base models. -#}
{#- The tracks: every event of kind 'track', with the quarantine checks of a track call. -#}
{% macro event_table_tracks(events) -%}
tracks as (
    select
        message_id,
        {{ tessera.event_call_columns() }},
        event_name,
        event_text,
        product_id,
        product_category,
        price,
        order_id,
        revenue,
        delivery_number
    from {{ events }}
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
{%- endmacro %}
