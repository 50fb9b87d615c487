{#-
    Snowplow's page views (the snowplow preset), into the demo preset's
    base_events__pages columns.
-#}
{{ config(
    enabled=tessera.source_preset('events').preset == 'snowplow',
) }}

with

{{ tessera.event_table_pages(ref('base_events__snowplow_events')) }}

select * from final
