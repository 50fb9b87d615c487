{#-
    Every identifier seen in every person record: one row per (record, identifier). A node of the
    identity graph is (identifier_type, identifier_value), never the bare value. The Segment
    user_id is the shop's customer id (the shop logs people in with it), so it is typed as such.
-#}
{%- set record_sources = [
    {'model': 'stg_crm__contacts', 'source': 'crm', 'table': 'contacts', 'id': 'crm_contact_id',
     'at': 'updated_at',
     'identifiers': [('crm_contact_id', 'crm_contact_id'), ('email', 'email'), ('phone', 'phone')]},
    {'model': 'stg_shop__customers', 'source': 'shop', 'table': 'customers', 'id': 'shop_customer_id',
     'at': 'updated_at',
     'identifiers': [('shop_customer_id', 'shop_customer_id'), ('email', 'email'), ('phone', 'phone')]},
    {'model': 'stg_shop__orders', 'source': 'shop', 'table': 'orders', 'id': 'order_id',
     'at': 'ordered_at',
     'identifiers': [('shop_customer_id', 'shop_customer_id'), ('email', 'email')]},
    {'model': 'stg_events__identifies', 'source': 'events', 'table': 'identifies', 'id': 'message_id',
     'at': 'occurred_at',
     'identifiers': [('shop_customer_id', 'user_id'), ('anonymous_id', 'anonymous_id'),
                     ('email', 'email'), ('phone', 'phone')]},
    {'model': 'int_identity__event_devices', 'source': 'events', 'table': 'tracks_and_pages',
     'id': 'device_record_id', 'at': 'last_seen_at',
     'identifiers': [('shop_customer_id', 'user_id'), ('anonymous_id', 'anonymous_id')]},
    {'model': 'stg_pos__transactions', 'source': 'pos', 'table': 'transactions', 'id': 'transaction_id',
     'at': 'transacted_at',
     'identifiers': [('loyalty_card', 'loyalty_card_number'), ('phone', 'phone')]},
    {'model': 'stg_support__tickets', 'source': 'support', 'table': 'tickets', 'id': 'ticket_id',
     'at': 'created_at',
     'identifiers': [('email', 'email'), ('phone', 'phone')]},
    {'model': 'stg_support__survey_responses', 'source': 'support', 'table': 'survey_responses',
     'id': 'survey_response_id', 'at': 'responded_at',
     'identifiers': [('email', 'email')]},
    {'model': 'stg_esp__email_events', 'source': 'esp', 'table': 'email_events', 'id': 'email_event_id',
     'at': 'occurred_at',
     'identifiers': [('email', 'email')]},
] -%}

with

{% for record_source in record_sources %}
    {{ record_source.model }} as (
        select * from {{ ref(record_source.model) }}
    ),
{% endfor %}

consent_events as (
    select * from {{ ref('stg_consent__consent_events') }}
),

{# Records of the person sources declared in sources/person_sources.yml. #}
person_source_occurrences as (
    select * from {{ ref('int_identity__person_source_occurrences') }}
),

final as (
    {%- for record_source in record_sources %}
        {%- set outer_loop = loop %}
        {%- for identifier_type, column in record_source.identifiers %}
            select
                '{{ record_source.source }}' as source_name,
                '{{ record_source.table }}' as table_name,
                cast({{ record_source.id }} as {{ dbt.type_string() }})
                    as record_id,
                '{{ identifier_type }}' as identifier_type,
                cast({{ column }} as {{ dbt.type_string() }})
                    as identifier_value,
                {{ record_source.at }} as observed_at
            from {{ record_source.model }}
            where {{ column }} is not null
            union all
        {%- endfor %}
    {%- endfor %}
    select
        source_name,
        table_name,
        record_id,
        identifier_type,
        identifier_value,
        observed_at
    from person_source_occurrences
    union all
    select
        'consent' as source_name,
        'consent_events' as table_name,
        consent_event_id as record_id,
        subject_type as identifier_type,
        subject_value as identifier_value,
        occurred_at as observed_at
    from consent_events
)

select * from final
