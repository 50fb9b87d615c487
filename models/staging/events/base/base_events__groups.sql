{#-
    The demo, Snowplow and mapped presets have no group() calls (docs/raw_schema.md): an empty table with the columns every
    preset's base_events__groups has, so stg_events__groups exists whatever the preset.
-#}
{{ config(
    enabled=tessera.source_preset('events').preset in ['demo', 'snowplow', 'mapped'],
) }}

with

final as (
    select
        {{ tessera.segment_common_columns(
            [], loaded_at='cast(null as ' ~ dbt.type_timestamp() ~ ')'
        ) }},
        cast(null as {{ dbt.type_string() }}) as group_id,
        cast(null as {{ dbt.type_string() }}) as group_name,
        cast(null as {{ dbt.type_string() }}) as group_industry,
        cast(null as {{ dbt.type_string() }}) as group_plan,
        cast(null as boolean) as is_account_state,
        cast(null as {{ dbt.type_bigint() }}) as delivery_number,
        cast(null as boolean) as is_junk_anonymous_id,
        cast(null as {{ dbt.type_string() }}) as quarantine_reason
    where 1 = 0
)

select * from final
