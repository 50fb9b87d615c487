{#- The demo preset (docs/raw_schema.md); base/fivetran_zendesk/ holds the
    Fivetran Zendesk one. -#}
{{ config(enabled=tessera.source_preset('support').preset == 'demo') }}

with

source as (
    select * from {{ source('support', 'survey_responses') }}
),

renamed as (
    select
        cast(response_id as {{ dbt.type_string() }}) as survey_response_id,
        cast(ticket_id as {{ dbt.type_string() }}) as ticket_id,
        requester_email as email_raw,
        {{ tessera.normalize_email('requester_email') }} as email,
        lower(trim(survey_type)) as survey_type,
        cast(score as {{ dbt.type_int() }}) as score,
        comment as comment_text,
        {{ tessera.try_cast_timestamp('responded_at') }} as responded_at,
        cast(_loaded_at as timestamp) as loaded_at
    from source
),

final as (
    select
        *,
        {{ tessera.is_junk_identifier('email', 'email') }} as is_junk_email,
        {{ tessera.quarantine_reason([
            tessera.suppression_check([('email', 'email')]),
            ("survey_response_id is null", "missing primary key"),
            ("survey_type not in ('csat', 'nps') or survey_type is null", "unknown survey type"),
            ("score is null", "missing score"),
            ("survey_type = 'csat' and (score < 1 or score > 5)", "csat score outside 1-5"),
            ("survey_type = 'nps' and (score < 0 or score > 10)", "nps score outside 0-10"),
            ("responded_at is null", "bad or missing responded_at"),
        ]) }} as quarantine_reason
    from renamed
)

select * from final
