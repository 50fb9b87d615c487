{#-
    One row per source record that describes a person: the input of probabilistic matching.
    The column set is fixed (any person source, declared here or in sources/person_sources.yml,
    unions in with exactly these columns): source_name, table_name, record_id, first_name,
    last_name, full_name, date_of_birth, email, phone, street, city, postcode, region, country. Values are the staged,
    normalised ones (email lower-cased, phone E.164, postcode without spaces); a source without a
    column gives null. Records with no name at all are left out: names are what the matcher and
    its guard compare first.
-#}
{%- set person_sources = [
    {'model': 'stg_crm__contacts', 'source': 'crm', 'table': 'contacts', 'id': 'crm_contact_id',
     'columns': {'first_name': 'first_name', 'last_name': 'last_name', 'date_of_birth': 'date_of_birth',
                 'email': 'email', 'phone': 'phone', 'street': 'street', 'city': 'city',
                 'postcode': 'postcode', 'region': 'region', 'country': 'country_code'}},
    {'model': 'stg_shop__customers', 'source': 'shop', 'table': 'customers', 'id': 'shop_customer_id',
     'columns': {'first_name': 'first_name', 'last_name': 'last_name', 'email': 'email', 'phone': 'phone',
                 'street': 'street', 'city': 'city', 'postcode': 'postcode', 'region': 'region',
                 'country': 'country_code'}},
    {'model': 'stg_events__identifies', 'source': 'events', 'table': 'identifies', 'id': 'message_id',
     'columns': {'first_name': 'first_name', 'last_name': 'last_name', 'email': 'email', 'phone': 'phone'}},
    {'model': 'stg_support__tickets', 'source': 'support', 'table': 'tickets', 'id': 'ticket_id',
     'columns': {'full_name': 'requester_name', 'email': 'email', 'phone': 'phone'}},
] -%}
{%- set string_columns = ['first_name', 'last_name', 'full_name', 'email', 'phone', 'street', 'city',
                          'postcode', 'region', 'country'] -%}

with

{% for person_source in person_sources %}
    {{ person_source.model }} as (
        select * from {{ ref(person_source.model) }}
    ),
{% endfor %}
stg_person_sources__records as (
    select * from {{ ref('stg_person_sources__records') }}
),

person_records as (
    {%- for person_source in person_sources %}
        select
            '{{ person_source.source }}' as source_name,
            '{{ person_source.table }}' as table_name,
            cast({{ person_source.id }} as {{ dbt.type_string() }})
                as record_id,
            {%- for column in string_columns %}
                {%- if column in person_source.columns %}
                    cast(
                        {{ person_source.columns[column] }} as {{ dbt.type_string() }}
                    )
                        as {{ column }},
                {%- else %}
                    cast(null as {{ dbt.type_string() }}) as {{ column }},
                {%- endif %}
                {%- if column == 'full_name' %}
                    {%- if 'date_of_birth' in person_source.columns %}
                        cast(
                            {{ person_source.columns['date_of_birth'] }} as date
                        )
                            as date_of_birth,
                    {%- else %}
                        cast(null as date) as date_of_birth,
                    {%- endif %}
                {%- endif %}
            {%- endfor %}
            1 as record_marker
        from {{ person_source.model }}
        union all
    {%- endfor %}
    -- Sources declared in sources/person_sources.yml: already in the standard shape.
    select
        source_name,
        table_name,
        cast(record_id as {{ dbt.type_string() }}) as record_id,
        first_name,
        last_name,
        full_name,
        cast(date_of_birth as date) as date_of_birth,
        email,
        phone,
        street,
        city,
        postcode,
        region,
        country,
        1 as record_marker
    from stg_person_sources__records
),

final as (
    select
        source_name,
        table_name,
        record_id,
        first_name,
        last_name,
        full_name,
        date_of_birth,
        email,
        phone,
        street,
        city,
        postcode,
        region,
        country
    from person_records
    where coalesce(first_name, last_name, full_name) is not null
)

select * from final
