{#-
    page() calls from a Segment / RudderStack warehouse, into the demo preset's base_events__pages columns.
    Incremental: a build stages the messages loaded since the last one (tessera.incremental_deliveries).
-#}
{%- set preset = tessera.source_preset('events') -%}
{{ config(
    enabled=preset.preset in ['segment', 'rudderstack'],
    materialized=tessera.deliveries_materialization(),
    incremental_strategy='delete+insert',
    unique_key='delivery_key',
    pre_hook=tessera.utc_session(),
) }}
{%- set pages_relation = source('segment', 'pages') -%}
{%- set available = tessera.relation_columns(pages_relation) -%}

{%- set logic %}
renamed as (
    select
        {{ tessera.segment_common_columns(
            available or [], loaded_at=tessera.segment_loaded_at(available)
        ) }},
        {{ tessera.column_or_null('path', available or []) }} as page_path,
        {{ tessera.column_or_null('url', available or []) }} as page_full_url,
        {{ tessera.column_or_null('title', available or []) }} as page_title,
        {{ tessera.column_or_null('referrer', available or []) }} as referrer
    from source
),

deliveries as (
    select
        *,
        row_number() over (
            partition by message_id
            order by received_at, loaded_at
        ) as delivery_number
    from renamed
),

checked as (
    select
        *,
        {{ tessera.is_junk_identifier('anonymous_id', 'anonymous_id') }}
            as is_junk_anonymous_id,
        {{ tessera.segment_quarantine_checks() }} as quarantine_reason
    from deliveries
)
{%- endset %}

{{ tessera.segment_event_log(pages_relation, available, logic) }}

select * from final
