{#-
    The demo and mapped presets have no screen() calls (docs/raw_schema.md, docs/sources.md): an empty table with the columns every
    preset's base_events__screens has, so stg_events__screens exists whatever the preset.
-#}
{{ config(enabled=tessera.source_preset('events').preset in ['demo', 'mapped']) }}

with

final as (
    select
        {{ tessera.segment_common_columns(
            [], loaded_at='cast(null as ' ~ dbt.type_timestamp() ~ ')'
        ) }},
        cast(null as {{ dbt.type_string() }}) as screen_name,
        cast(null as {{ dbt.type_bigint() }}) as delivery_number,
        cast(null as boolean) as is_junk_anonymous_id,
        cast(null as {{ dbt.type_string() }}) as quarantine_reason
    where 1 = 0
)

select * from final
