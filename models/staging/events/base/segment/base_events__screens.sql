{#-
    screen() calls (app screen views) from a Segment / RudderStack warehouse. Incremental: a build stages the
    messages loaded since the last one (tessera.incremental_deliveries).
-#}
{%- set preset = tessera.source_preset('events') -%}
{{ config(
    enabled=preset.preset in ['segment', 'rudderstack'],
    materialized=tessera.deliveries_materialization(),
    incremental_strategy='delete+insert',
    unique_key='delivery_key',
    pre_hook=tessera.utc_session(),
) }}
{%- set screens_relation = source('segment', 'screens') -%}
{%- set available = tessera.relation_columns(screens_relation) -%}

{%- set logic %}
renamed as (
    select
        {{ tessera.segment_common_columns(
            available or [], loaded_at=tessera.segment_loaded_at(available)
        ) }},
        {{ tessera.column_or_null('name', available or []) }} as screen_name
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

final as (
    select
        *,
        {{ tessera.is_junk_identifier('anonymous_id', 'anonymous_id') }}
            as is_junk_anonymous_id,
        {{ tessera.segment_quarantine_checks() }} as quarantine_reason
    from deliveries
)
{%- endset %}
{%- set fingerprint = tessera.staging_fingerprint(logic) %}

with

source as (
    {{ tessera.incremental_deliveries(
        screens_relation if available is not none else none,
        tessera.column_or_null('id', available or []),
        tessera.segment_loaded_at(available),
        fingerprint,
    ) }}
),

{{ logic }}

select
    *,
    {{ tessera.delivery_key('message_id') }} as delivery_key,
    '{{ fingerprint }}' as staging_logic
from final
