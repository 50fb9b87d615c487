{#-
    An event table of one's own has no identify call: an app sets the user id on the events a logged-in
    person sends, beside the device's anonymous id. As the Snowplow preset does, each (anonymous_id,
    user_id) pair seen together on one event is a login: one identify row per pair, at the first event
    that carried it (a plausible timestamp first), without traits. Its message_id is that event's id
    with ':identify', so it does not repeat the event's own id in the events mart. Duplicate deliveries
    are left out first; suppression and the timestamp checks apply as to any identify row.
-#}
{{ config(
    enabled=tessera.source_preset('events').preset == 'mapped',
) }}

with

{{ tessera.event_table_identifies(ref('base_events__mapped_events')) }}

select * from final
