{#-
    Every record that can say who a person is, from every source, in one shape: one row per
    (source_name, table_name, record_id) with the standard identity fields (names and their matching
    keys, date of birth, email, phone, address) and the typed ids it carries (CRM contact id, shop
    customer id, loyalty card, anonymous id). A source without a field gives null. Identity reads
    this model instead of listing sources: the identifier occurrences, the record names, the
    probabilistic person records and the placement check all start here. A person source declared in
    sources/person_sources.yml unions in through stg_person_sources__records; its typed external ids
    (several per record) stay in stg_person_sources__external_ids.
    `offers_profile_attributes` says whether a record's table is a profile of the person (CRM
    contacts, shop customers, identify calls, support tickets, every declared person source: set by
    `'profile': true` below) rather than a by-product that merely carries an identifier (orders,
    devices, POS transactions, surveys, email and consent events); the customers' golden attributes
    (int_customer_attributes_ranked) take their candidates from profile records only.
    Lives in models/identity/ (not intermediate/) because identity models read it, and identity may
    read only staging and identity.
-#}
{%- set record_sources = [
    {'model': 'stg_crm__contacts', 'source': 'crm', 'table': 'contacts', 'id': 'crm_contact_id',
     'at': 'updated_at', 'profile': true,
     'columns': {'first_name': 'first_name', 'last_name': 'last_name', 'first_name_key': 'first_name_key',
                 'last_name_key': 'last_name_key', 'date_of_birth': 'date_of_birth', 'email': 'email',
                 'phone': 'phone', 'street': 'street', 'city': 'city', 'postcode': 'postcode',
                 'region': 'region', 'country': 'country_code', 'crm_contact_id': 'crm_contact_id',
                 'date_of_birth_issue': 'date_of_birth_issue', 'email_issue': 'email_issue',
                 'phone_issue': 'phone_issue'}},
    {'model': 'stg_shop__customers', 'source': 'shop', 'table': 'customers', 'id': 'shop_customer_id',
     'at': 'updated_at', 'profile': true,
     'columns': {'first_name': 'first_name', 'last_name': 'last_name', 'first_name_key': 'first_name_key',
                 'last_name_key': 'last_name_key', 'email': 'email', 'phone': 'phone', 'street': 'street',
                 'city': 'city', 'postcode': 'postcode', 'region': 'region', 'country': 'country_code',
                 'shop_customer_id': 'shop_customer_id', 'email_issue': 'email_issue',
                 'phone_issue': 'phone_issue'}},
    {'model': 'stg_shop__orders', 'source': 'shop', 'table': 'orders', 'id': 'order_id',
     'at': 'ordered_at',
     'columns': {'email': 'email', 'shop_customer_id': 'shop_customer_id'}},
    {'model': 'stg_events__identifies', 'source': 'events', 'table': 'identifies', 'id': 'message_id',
     'at': 'occurred_at', 'profile': true,
     'columns': {'first_name': 'first_name', 'last_name': 'last_name',
                 'first_name_key': tessera.name_key('first_name'), 'last_name_key': tessera.name_key('last_name'),
                 'email': 'email', 'phone': 'phone', 'shop_customer_id': 'user_id',
                 'anonymous_id': 'anonymous_id', 'email_issue': 'email_issue', 'phone_issue': 'phone_issue'}},
    {'model': 'int_identity__event_devices', 'source': 'events', 'table': 'tracks_and_pages',
     'id': 'device_record_id', 'at': 'last_seen_at',
     'columns': {'shop_customer_id': 'user_id', 'anonymous_id': 'anonymous_id'}},
    {'model': 'stg_pos__transactions', 'source': 'pos', 'table': 'transactions', 'id': 'transaction_id',
     'at': 'transacted_at',
     'columns': {'loyalty_card': 'loyalty_card_number', 'phone': 'phone', 'phone_issue': 'phone_issue'}},
    {'model': 'stg_support__tickets', 'source': 'support', 'table': 'tickets', 'id': 'ticket_id',
     'at': 'created_at', 'profile': true,
     'columns': {'full_name': 'requester_name',
                 'first_name_key': tessera.name_key(dbt.split_part('requester_name', "' '", 1)),
                 'email': 'email', 'phone': 'phone', 'email_issue': 'email_issue', 'phone_issue': 'phone_issue'}},
    {'model': 'stg_support__survey_responses', 'source': 'support', 'table': 'survey_responses',
     'id': 'survey_response_id', 'at': 'responded_at',
     'columns': {'email': 'email'}},
    {'model': 'stg_esp__email_events', 'source': 'esp', 'table': 'email_events', 'id': 'email_event_id',
     'at': 'occurred_at',
     'columns': {'email': 'email'}},
    {'model': 'stg_consent__consent_events', 'source': 'consent', 'table': 'consent_events',
     'id': 'consent_event_id', 'at': 'occurred_at',
     'columns': {'email': "case when subject_type = 'email' then subject_value end",
                 'phone': "case when subject_type = 'phone' then subject_value end",
                 'crm_contact_id': "case when subject_type = 'crm_contact_id' then subject_value end",
                 'shop_customer_id': "case when subject_type = 'shop_customer_id' then subject_value end"}},
] -%}
{%- set string_columns = [
    'first_name', 'last_name', 'full_name', 'first_name_key', 'last_name_key',
    'email', 'phone', 'street', 'city', 'postcode', 'region', 'country',
    'crm_contact_id', 'shop_customer_id', 'loyalty_card', 'anonymous_id',
    'date_of_birth_issue', 'email_issue', 'phone_issue', 'postcode_issue',
] -%}

with

{% for record_source in record_sources %}
    {{ record_source.model }} as (
        select * from {{ ref(record_source.model) }}
    ),
{% endfor %}
stg_person_sources__records as (
    select * from {{ ref('stg_person_sources__records') }}
),

unioned as (
    {%- for record_source in record_sources %}
        select
            '{{ record_source.source }}' as source_name,
            '{{ record_source.table }}' as table_name,
            cast({{ record_source.id }} as {{ dbt.type_string() }})
                as record_id,
            {%- for column in string_columns %}
                {%- set expression = record_source.columns.get(
                    column, 'null'
                ) %}
                cast({{ expression }} as {{ dbt.type_string() }})
                    as {{ column }},
            {%- endfor %}
            {%- set birth_date = record_source.columns.get(
                'date_of_birth', 'null'
            ) %}
            cast({{ birth_date }} as date) as date_of_birth,
            cast(null as integer) as source_priority,
            {{ 'true' if record_source.get('profile') else 'false' }}
                as offers_profile_attributes,
            cast({{ record_source.at }} as timestamp) as observed_at
        from {{ record_source.model }}
        union all
    {%- endfor %}
    -- Sources declared in sources/person_sources.yml: in the standard shape.
    select
        source_name,
        table_name,
        cast(record_id as {{ dbt.type_string() }}) as record_id,
        first_name,
        last_name,
        full_name,
        first_name_key,
        last_name_key,
        email,
        phone,
        street,
        city,
        postcode,
        region,
        country,
        cast(null as {{ dbt.type_string() }}) as crm_contact_id,
        cast(null as {{ dbt.type_string() }}) as shop_customer_id,
        cast(null as {{ dbt.type_string() }}) as loyalty_card,
        cast(null as {{ dbt.type_string() }}) as anonymous_id,
        date_of_birth_issue,
        email_issue,
        phone_issue,
        postcode_issue,
        cast(date_of_birth as date) as date_of_birth,
        cast(source_priority as integer) as source_priority,
        true as offers_profile_attributes,
        cast(observed_at as timestamp) as observed_at
    from stg_person_sources__records
),

final as (
    select
        source_name,
        table_name,
        record_id,
        source_name || ':' || table_name || ':' || record_id as record_key,
        first_name,
        last_name,
        full_name,
        first_name_key,
        last_name_key,
        email,
        phone,
        street,
        city,
        postcode,
        region,
        country,
        crm_contact_id,
        shop_customer_id,
        loyalty_card,
        anonymous_id,
        date_of_birth_issue,
        email_issue,
        phone_issue,
        postcode_issue,
        source_priority,
        offers_profile_attributes,
        coalesce(first_name, last_name, full_name) is not null as has_name,
        {#- Usable with no identifier: a name with a birth date or address. -#}
        coalesce(first_name_key, last_name_key) is not null
        and (
            date_of_birth is not null
            or street is not null
            or postcode is not null
        ) as has_name_evidence,
        date_of_birth,
        observed_at
    from unioned
)

select * from final
