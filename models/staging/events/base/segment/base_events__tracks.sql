{#-
    track() calls from a Segment / RudderStack warehouse (the segment and rudderstack presets), into the
    same columns as the demo preset's base_events__tracks. The properties live in one table per event:
    they are joined on the message id from segment_event_properties, the one join in staging, because
    the loader splits one call across two tables. Incremental: a build stages the messages loaded since
    the last one, in either table (tessera.incremental_deliveries).
-#}
{%- set preset = tessera.source_preset('events') -%}
{{ config(
    enabled=preset.preset in ['segment', 'rudderstack'],
    materialized=tessera.deliveries_materialization(),
    incremental_strategy='delete+insert',
    unique_key='delivery_key',
    pre_hook=tessera.utc_session(),
) }}
{%- set tracks_relation = source('segment', 'tracks') -%}
{%- set available = tessera.relation_columns(tracks_relation) -%}
{#- A schema with none of the loader's main tables is a wrong declaration, not an empty history. -#}
{%- if execute and available is none -%}
    {%- set others = [] -%}
    {%- for table in ['pages', 'identifies'] -%}
        {%- set relation = api.Relation.create(
            database=tracks_relation.database, schema=tracks_relation.schema,
            identifier=preset.table_prefix ~ table) -%}
        {%- if tessera.relation_columns(relation) is not none -%}
            {%- do others.append(table) -%}
        {%- endif -%}
    {%- endfor -%}
    {%- if not others -%}
        {{ exceptions.raise_compiler_error(
            "events preset " ~ preset.preset ~ ": no " ~ preset.table_prefix ~ "tracks, pages or identifies table in "
            ~ tracks_relation.schema ~ " (sources/presets.yml; docs/sources.md)") }}
    {%- endif -%}
{%- endif %}
{%- set properties_sql = tessera.segment_event_properties(
    tracks_relation, preset.table_prefix, preset.event_properties
) %}

{%- set logic %}
renamed as (
    select
        {{ tessera.segment_common_columns(
            available or [], loaded_at=tessera.segment_loaded_at(available)
        ) }},
        {{ tessera.segment_event_name(preset.event_names, available or []) }} as event_name,
        {{ tessera.column_or_null('event_text', available or []) }} as event_text
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

-- The per-event tables get every delivery too: keep one row per message.
first_properties as (
    select
        message_id,
        product_id,
        product_category,
        price,
        order_id,
        revenue,
        loaded_at,
        row_number() over (
            partition by message_id
            order by received_at
        ) as property_row
    from event_properties
    where message_id in (select cast(message_id as {{ dbt.type_string() }}) from deliveries)
),

with_properties as (
    select
        deliveries.message_id,
        deliveries.anonymous_id,
        deliveries.user_id,
        deliveries.device_id,
        deliveries.device_type,
        deliveries.library_name,
        deliveries.event_channel,
        deliveries.ip_address,
        deliveries.user_agent,
        deliveries.page_url,
        deliveries.utm_source,
        deliveries.utm_medium,
        deliveries.utm_campaign,
        deliveries.occurred_at,
        deliveries.sent_at,
        deliveries.received_at,
        -- A call is complete once its properties are loaded: the events mart places it again then.
        case
            when first_properties.loaded_at > deliveries.loaded_at
                then first_properties.loaded_at
            else deliveries.loaded_at
        end as loaded_at,
        deliveries.event_name,
        deliveries.event_text,
        first_properties.product_id,
        lower(trim(first_properties.product_category)) as product_category,
        first_properties.price,
        first_properties.order_id,
        first_properties.revenue,
        deliveries.delivery_number
    from deliveries
    left join first_properties
        on
            deliveries.message_id = first_properties.message_id
            and first_properties.property_row = 1
),

checked as (
    select
        *,
        {{ tessera.is_junk_identifier('anonymous_id', 'anonymous_id') }}
            as is_junk_anonymous_id,
        {{ tessera.segment_quarantine_checks(
            [("event_name is null", "missing event name")]
        ) }} as quarantine_reason
    from with_properties
)
{%- endset %}

{{ tessera.segment_event_log(tracks_relation, available, logic, properties_sql) }}

select * from final
