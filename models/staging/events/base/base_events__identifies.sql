{#- The demo preset (docs/raw_schema.md); models/staging/events/base/segment/ holds the Segment one. -#}
{{ config(enabled=tessera.source_preset('events').preset == 'demo') }}

with

source as (
    select * from {{ source('events', 'identifies') }}
),

renamed as (
    select
        {{ tessera.segment_common_columns() }},
        {{ tessera.clean_text('first_name') }} as first_name,
        {{ tessera.clean_text('last_name') }} as last_name,
        email as email_raw,
        {{ tessera.normalize_email('email') }} as email,
        phone as phone_raw,
        {{ tessera.normalize_phone('phone') }} as phone,
        row_number() over (
            partition by id
            order by received_at, _loaded_at
        ) as delivery_number
    from source
),

final as (
    select
        *,
        {{ tessera.is_valid_email('email') }} as is_valid_email,
        {{ tessera.is_junk_identifier('email', 'email') }} as is_junk_email,
        {{ tessera.is_junk_identifier('phone', 'phone') }} as is_junk_phone,
        {{ tessera.email_issue('email') }} as email_issue,
        {{ tessera.phone_issue('phone_raw', 'phone') }} as phone_issue,
        {{ tessera.is_junk_identifier('anonymous_id', 'anonymous_id') }}
            as is_junk_anonymous_id,
        {{ tessera.segment_quarantine_checks(suppressed=[
            ('anonymous_id', 'anonymous_id'), ('shop_customer_id', 'user_id'), ('email', 'email'), ('phone', 'phone'),
        ]) }} as quarantine_reason
    from renamed
)

select * from final
