{#- The demo preset (docs/raw_schema.md); models/staging/events/base/segment/ holds the Segment one. -#}
{{ config(enabled=tessera.source_preset('events').preset == 'demo') }}

with

source as (
    select * from {{ source('events', 'tracks') }}
),

renamed as (
    select
        {{ tessera.segment_common_columns() }},
        lower(trim(event)) as event_name,
        event_text,
        product_id,
        lower(trim(category)) as product_category,
        cast(price as {{ dbt.type_numeric() }}) as price,
        cast(order_id as {{ dbt.type_string() }}) as order_id,
        cast(revenue as {{ dbt.type_numeric() }}) as revenue,
        row_number() over (
            partition by id
            order by received_at, _loaded_at
        ) as delivery_number
    from source
),

final as (
    select
        *,
        {{ tessera.is_junk_identifier('anonymous_id', 'anonymous_id') }}
            as is_junk_anonymous_id,
        {{ tessera.segment_quarantine_checks(
            [("event_name is null", "missing event name")]
        ) }} as quarantine_reason
    from renamed
)

select * from final
