{#-
    The mapped preset's events but page views, into the columns of the other presets'
    base_events__tracks; base_events__mapped_events holds the reading.
-#}
{{ config(
    enabled=tessera.source_preset('events').preset == 'mapped',
) }}

with

{{ tessera.event_table_tracks(ref('base_events__mapped_events')) }}

select * from final
