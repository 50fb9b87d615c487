{#- screen() calls (app screen views) from a Segment / RudderStack warehouse. -#}
{%- set preset = tessera.source_preset('events') -%}
{{ config(
    enabled=preset.preset in ['segment', 'rudderstack'],
    pre_hook=tessera.utc_session(),
) }}
{%- set screens_relation = source('segment', 'screens') -%}
{%- set available = tessera.relation_columns(screens_relation) -%}

with

source as (
    {% if available is none -%}
        select 1 as no_table where 1 = 0
    {%- else -%}
        select * from {{ screens_relation }}
    {%- endif %}
),

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

select * from final
