{#-
    Satisfaction ratings as Fivetran's Zendesk Support connector writes them
    (`satisfaction_rating`; the fivetran_zendesk preset), into the same
    columns as the demo preset's base_support__survey_responses. Zendesk's
    CSAT is good or bad: staged as a csat score of 5 or 1 (the contract's
    1-5). A rating offered but not answered (score offered / unoffered) is
    kept and quarantined as 'survey not answered'; a deleted rating, or one
    whose requester was deleted, as deleted in source. The requester's email
    comes from `user`.
-#}
{{ config(
    enabled=tessera.source_preset('support').preset == 'fivetran_zendesk',
    pre_hook=tessera.utc_session(),
) }}
{%- set rating_cols = tessera.fivetran_table(
    'fivetran_zendesk', 'support', 'satisfaction_rating',
    columns=[
        'id', 'ticket_id', 'requester_id', 'score', 'created_at', 'updated_at',
        '_fivetran_synced',
    ]) -%}
{%- set user_cols = tessera.fivetran_table(
    'fivetran_zendesk', 'support', 'user', required=true, columns=['id']) -%}
{%- set text = dbt.type_string() -%}

with

source as (
    {% if rating_cols is none -%}
        select
            cast(null as {{ text }}) as id,
            cast(null as {{ text }}) as ticket_id,
            cast(null as {{ text }}) as requester_id,
            cast(null as {{ text }}) as score,
            cast(null as {{ text }}) as comment,
            cast(null as {{ dbt.type_timestamp() }}) as created_at,
            cast(null as {{ dbt.type_timestamp() }}) as updated_at,
            cast(null as {{ dbt.type_timestamp() }}) as _fivetran_synced
        where 1 = 0
    {%- else -%}
        select * from {{ source('fivetran_zendesk', 'satisfaction_rating') }}
    {%- endif %}
),

users as (
    {% if user_cols is none -%}
        select
            cast(null as {{ text }}) as user_id,
            cast(null as {{ text }}) as email,
            false as is_deleted
        where 1 = 0
    {%- else -%}
        select
            cast(id as {{ text }}) as user_id,
            {{ tessera.column_or_null('email', user_cols) }} as email,
            {{ tessera.fivetran_soft_deleted(user_cols) }} as is_deleted
        from {{ source('fivetran_zendesk', 'user') }}
    {%- endif %}
),

ratings as (
    select
        cast(id as {{ text }}) as rating_id,
        cast(ticket_id as {{ text }}) as ticket_id,
        cast(requester_id as {{ text }}) as requester_id,
        lower(trim(score)) as rating,
        {{ tessera.column_or_null('comment', rating_cols) }} as comment_text,
        {#- created when the survey was offered, updated when answered. -#}
        cast(coalesce(updated_at, created_at) as timestamp) as responded_at,
        cast(_fivetran_synced as timestamp) as loaded_at,
        {{ tessera.fivetran_soft_deleted(rating_cols) }} as is_deleted
    from source
),

renamed as (
    select
        ratings.rating_id as survey_response_id,
        ratings.ticket_id,
        users.email as email_raw,
        {{ tessera.normalize_email('users.email') }} as email,
        'csat' as survey_type,
        cast(
            case
                when ratings.rating = 'good' then 5
                when ratings.rating = 'bad' then 1
            end as {{ dbt.type_int() }}
        ) as score,
        ratings.comment_text,
        ratings.responded_at,
        ratings.loaded_at,
        ratings.rating,
        ratings.is_deleted,
        coalesce(users.is_deleted, false) as is_requester_deleted
    from ratings
    left join users on ratings.requester_id = users.user_id
),

final as (
    select
        survey_response_id,
        ticket_id,
        email_raw,
        email,
        survey_type,
        score,
        comment_text,
        responded_at,
        loaded_at,
        {{ tessera.is_junk_identifier('email', 'email') }} as is_junk_email,
        {{ tessera.quarantine_reason([
            tessera.suppression_check([('email', 'email')]),
            ("is_deleted", "deleted in source"),
            ("is_requester_deleted", "requester deleted in source"),
            ("rating in ('offered', 'unoffered')", "survey not answered"),
            ("survey_response_id is null", "missing primary key"),
            ("score is null", "missing score"),
            ("responded_at is null", "bad or missing responded_at"),
        ]) }} as quarantine_reason
    from renamed
)

select * from final
