{#-
    group() calls from a Segment / RudderStack warehouse: the user (or device) belongs to the account
    `group_id` (a company, a household, a team); the group's `name` trait is its name.
-#}
{%- set preset = tessera.source_preset('events') -%}
{{ config(
    enabled=preset.preset in ['segment', 'rudderstack'],
    pre_hook=tessera.utc_session(),
) }}
{%- set groups_relation = source('segment', 'groups') -%}
{%- set available = tessera.relation_columns(groups_relation) -%}

with

source as (
    {% if available is none -%}
        select 1 as no_table where 1 = 0
    {%- else -%}
        select * from {{ groups_relation }}
    {%- endif %}
),

renamed as (
    select
        {{ tessera.segment_common_columns(
            available or [], loaded_at=tessera.segment_loaded_at(available)
        ) }},
        nullif(trim({{ tessera.column_or_null('group_id', available or []) }}), '') as group_id,
        {{ tessera.column_or_null('name', available or []) }} as group_name
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
        {{ tessera.segment_quarantine_checks(extra=[('group_id is null', 'missing group_id')]) }}
            as quarantine_reason
    from deliveries
)

select * from final
