{#-
    Support tickets as Fivetran's Zendesk Support connector writes them (the
    fivetran_zendesk preset), into the same columns as the demo preset's
    base_support__tickets. The requester's name, email and phone come from
    `user` (user.id = ticket.requester_id). A ticket Zendesk deleted
    (`_fivetran_deleted`, or status `deleted`), or one whose requester was
    deleted, is kept here and quarantined: counted, but never staged.
-#}
{{ config(
    enabled=tessera.source_preset('support').preset == 'fivetran_zendesk',
    pre_hook=tessera.utc_session(),
) }}
{%- set ticket_cols = tessera.fivetran_table(
    'fivetran_zendesk', 'support', 'ticket', required=true,
    columns=[
        'id', 'requester_id', 'subject', 'status', 'priority', 'created_at',
        'updated_at', '_fivetran_synced',
    ]) -%}
{%- set user_cols = tessera.fivetran_table(
    'fivetran_zendesk', 'support', 'user', required=true, columns=['id']) -%}
{%- set text = dbt.type_string() -%}

with

source as (
    {% if ticket_cols is none -%}
        select 1 as no_table where 1 = 0
    {%- else -%}
        select * from {{ source('fivetran_zendesk', 'ticket') }}
    {%- endif %}
),

users as (
    {% if user_cols is none -%}
        select
            cast(null as {{ text }}) as user_id,
            cast(null as {{ text }}) as user_name,
            cast(null as {{ text }}) as email,
            cast(null as {{ text }}) as phone,
            false as is_deleted
        where 1 = 0
    {%- else -%}
        select
            cast(id as {{ text }}) as user_id,
            {{ tessera.column_or_null('name', user_cols) }} as user_name,
            {{ tessera.column_or_null('email', user_cols) }} as email,
            {{ tessera.column_or_null('phone', user_cols) }} as phone,
            {{ tessera.fivetran_soft_deleted(user_cols) }} as is_deleted
        from {{ source('fivetran_zendesk', 'user') }}
    {%- endif %}
),

tickets as (
    select
        cast(id as {{ text }}) as ticket_id,
        cast(requester_id as {{ text }}) as requester_id,
        subject,
        lower(trim(status)) as zendesk_status,
        priority,
        {{ tessera.column_or_null('via_channel', ticket_cols) }} as via_channel,
        cast(created_at as timestamp) as created_at,
        cast(updated_at as timestamp) as updated_at,
        cast(_fivetran_synced as timestamp) as loaded_at,
        {{ tessera.fivetran_soft_deleted(ticket_cols) }}
        or coalesce(lower(trim(status)) = 'deleted', false) as is_deleted
    from source
),

joined as (
    select
        tickets.*,
        users.user_name,
        users.email,
        users.phone,
        coalesce(users.is_deleted, false) as is_requester_deleted
    from tickets
    left join users on tickets.requester_id = users.user_id
),

renamed as (
    select
        ticket_id,
        email as email_raw,
        {{ tessera.normalize_email('email') }} as email,
        phone as phone_raw,
        {{ tessera.normalize_phone('phone') }} as phone,
        {{ tessera.clean_text('user_name') }} as requester_name,
        {{ tessera.clean_text('subject') }} as subject,
        {#- Zendesk's on-hold is waiting on a third party: still pending. -#}
        case
            when zendesk_status = 'hold' then 'pending' else zendesk_status
        end as ticket_status,
        lower(trim(priority)) as priority,
        {#- Zendesk calls a phone ticket voice. -#}
        case
            when lower(trim(via_channel)) = 'voice' then 'phone'
            else lower(trim(via_channel))
        end as ticket_channel,
        zendesk_status in ('new', 'open', 'pending', 'hold') as is_open,
        created_at,
        updated_at,
        loaded_at,
        is_deleted,
        is_requester_deleted
    from joined
),

final as (
    select
        ticket_id,
        email_raw,
        email,
        phone_raw,
        phone,
        requester_name,
        subject,
        ticket_status,
        priority,
        ticket_channel,
        is_open,
        created_at,
        updated_at,
        loaded_at,
        {{ tessera.is_valid_email('email') }} as is_valid_email,
        {{ tessera.is_junk_identifier('email', 'email') }} as is_junk_email,
        {{ tessera.is_junk_identifier('phone', 'phone') }} as is_junk_phone,
        {{ tessera.email_issue('email') }} as email_issue,
        {{ tessera.phone_issue('phone_raw', 'phone') }} as phone_issue,
        {{ tessera.quarantine_reason([
            tessera.suppression_check([('email', 'email'), ('phone', 'phone')]),
            ("is_deleted", "deleted in source"),
            ("is_requester_deleted", "requester deleted in source"),
            ("ticket_id is null", "missing primary key"),
            ("created_at is null", "bad or missing created_at"),
            ("ticket_status not in ('new', 'open', 'pending', 'solved', 'closed')"
                ~ " or ticket_status is null", "unknown status"),
            ("email is null and phone is null", "no requester email or phone"),
        ]) }} as quarantine_reason
    from renamed
)

select * from final
