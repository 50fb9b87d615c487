{#-
    Snowplow has no identify call: a site sets user_id on the events a logged-in visitor sends, beside
    the browser's domain_userid. Like the Snowplow web package's user stitching, each (domain_userid,
    user_id) pair seen together is a login: one identify row per pair, at the first event that carried
    it (a plausible timestamp first), without traits. Its message_id is that event's id with
    ':identify', so it does not repeat the event's own id in the events mart. Duplicate deliveries are
    left out first; suppression and the timestamp checks apply as to any identify row.
-#}
{{ config(
    enabled=tessera.source_preset('events').preset == 'snowplow',
) }}

with

{{ tessera.event_table_identifies(ref('base_events__snowplow_events')) }}

select * from final
