{#-
    The CTEs of an incremental Segment event-log base model (tracks, pages, screens), up to `final`: its
    `logic` (the CTEs from `renamed` to `checked`, reading `source`) over the raw rows this build stages
    (tessera.incremental_deliveries), and `final`, each row of `checked` with its delivery_key and
    staging_logic. The model ends `select * from final`. `properties_sql`, for tracks, selects the
    per-event tables' properties (segment_event_properties): a CTE `event_properties` that `logic` joins,
    whose rows loaded since the last build restage their calls too.
-#}
{% macro segment_event_log(relation, available, logic, properties_sql=none) -%}
{%- set fingerprint = tessera.staging_fingerprint(logic ~ (properties_sql or '')) -%}
with

{% if properties_sql is not none -%}
event_properties as (
    {{ properties_sql }}
),

{% endif -%}
source as (
    {{ tessera.incremental_deliveries(
        relation if available is not none else none,
        tessera.column_or_null('id', available or []),
        tessera.segment_loaded_at(available),
        fingerprint,
        also_new='select message_id, loaded_at from event_properties' if properties_sql is not none else none,
    ) }}
),

{{ logic }},

final as (
    select
        *,
        {{ tessera.delivery_key('message_id') }} as delivery_key,
        '{{ fingerprint }}' as staging_logic
    from checked
)
{%- endmacro %}
