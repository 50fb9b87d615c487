{#- The demo preset (docs/raw_schema.md); models/staging/events/base/segment/ holds the Segment one. -#}
{{ config(enabled=tessera.source_preset('events').preset == 'demo') }}

with

source as (
    select * from {{ source('events', 'pages') }}
),

renamed as (
    select
        {{ tessera.segment_common_columns() }},
        path as page_path,
        url as page_full_url,
        title as page_title,
        referrer,
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
        {{ tessera.segment_quarantine_checks() }} as quarantine_reason
    from renamed
)

select * from final
