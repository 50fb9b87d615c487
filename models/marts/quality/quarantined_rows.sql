{#- Every raw row that broke a staging rule, with the first rule it broke and
    the row as it arrived. -#}
{%- set checked_tables = [
    ('crm', 'contacts', 'crm_contact_id'),
    ('shop', 'customers', 'shop_customer_id'),
    ('shop', 'orders', 'order_id'),
    ('shop', 'order_items', 'order_item_id'),
    ('events', 'identifies', 'message_id'),
    ('events', 'tracks', 'message_id'),
    ('events', 'pages', 'message_id'),
    ('events', 'screens', 'message_id'),
    ('events', 'groups', 'message_id'),
    ('pos', 'stores', 'store_id'),
    ('pos', 'transactions', 'transaction_id'),
    ('support', 'tickets', 'ticket_id'),
    ('support', 'survey_responses', 'survey_response_id'),
    ('esp', 'email_events', 'email_event_id'),
    ('consent', 'consent_events', 'consent_event_id'),
    ('reference', 'public_holidays', "cast(holiday_date as " ~ dbt.type_string() ~ ")"),
    ('reference', 'weather_daily', "cast(weather_date as " ~ dbt.type_string() ~ ")"),
    ('review', 'identity_review_decisions', 'decision_id'),
] -%}

with

{% for source_name, table_name, record_id in checked_tables %}
    {%- set record_id_text =
        "cast(" ~ record_id ~ " as " ~ dbt.type_string() ~ ")" %}
    quarantined_{{ source_name }}__{{ table_name }} as (
        select
            '{{ source_name }}' as source_name,
            '{{ table_name }}' as table_name,
            {#- A suppressed row is an erased person coming back: keep neither
                its key nor its data. -#}
            case
                when base.quarantine_reason = 'suppressed'
                    then
                        'sha256:'
                        || {{ tessera.sha256_hex(record_id_text) }}
                else cast({{ record_id }} as {{ dbt.type_string() }})
            end as record_id,
            base.quarantine_reason,
            case
                when
                    base.quarantine_reason <> 'suppressed'
                    then {{ tessera.row_to_json('base') }}
            end as raw_record,
            base.loaded_at
        from {{ ref('base_' ~ source_name ~ '__' ~ table_name) }} as base
        where base.quarantine_reason is not null
    ),
{% endfor %}

{# Person sources (sources/person_sources.yml) land in one table; each row
    names its own source and table, and keeps the row as it arrived in the
    file or table. #}


quarantined_person_sources as (
    select
        base.source_name,
        base.table_name,
        case
            when base.quarantine_reason = 'suppressed'
                then 'sha256:' || {{ tessera.sha256_hex('base.record_id') }}
            else base.record_id
        end as record_id,
        base.quarantine_reason,
        case
            when base.quarantine_reason <> 'suppressed' then base.raw_record
        end as raw_record,
        base.loaded_at
    from {{ ref('base_person_sources__records') }} as base
    where base.quarantine_reason is not null
),

final as (
    {% for source_name, table_name, record_id in checked_tables %}
    {%- set record_id_text =
        "cast(" ~ record_id ~ " as " ~ dbt.type_string() ~ ")" %}
        select * from quarantined_{{ source_name }}__{{ table_name }}
        union all
    {% endfor %}
    select * from quarantined_person_sources
)

select * from final
