{#-
    Snowplow's structured events, self-describing events and transactions (the snowplow preset), into
    the demo preset's base_events__tracks columns; base_events__snowplow_events holds the reading.
-#}
{{ config(
    enabled=tessera.source_preset('events').preset == 'snowplow',
) }}

with

{{ tessera.event_table_tracks(ref('base_events__snowplow_events')) }}

select * from final
