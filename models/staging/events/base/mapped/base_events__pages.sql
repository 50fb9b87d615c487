{#-
    The mapped preset's page views (the events named `page_event`), into the columns of the other
    presets' base_events__pages: the url, path, title and referrer are the event's properties of those
    names (base_events__mapped_events).
-#}
{{ config(
    enabled=tessera.source_preset('events').preset == 'mapped',
) }}

with

{{ tessera.event_table_pages(ref('base_events__mapped_events')) }}

select * from final
