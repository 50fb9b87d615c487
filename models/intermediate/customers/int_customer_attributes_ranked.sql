{#-
    Every candidate value for a customer's name, email, phone and address, from every profile
    record (int_person_records_unioned where offers_profile_attributes) that carries one, ranked by
    each attribute's survivorship rule (the customers model's `config.meta.survivorship`,
    macros/customers/survivorship_rules.sql): source priority (the default), most recent, most
    frequent or longest; ties fall back to source priority, then recency, then completeness.
    `attribute_rank` = 1 is the value `customers` shows, with the record (source, table, id,
    observed_at) it came from and the rule that chose it.
-#}
{%- set rules = tessera.survivorship_rules() -%}
{#- The attributes each rule ranks, as SQL lists ('' for none). -#}
{%- set ruled_by = {'most_frequent': [], 'longest': [], 'most_recent': []} -%}
{%- for attribute, rule in rules.items() if rule in ruled_by -%}
    {%- do ruled_by[rule].append("'" ~ attribute ~ "'") -%}
{%- endfor -%}
{%- set most_frequent = ruled_by['most_frequent'] | join(', ') or "''" -%}
{%- set longest = ruled_by['longest'] | join(', ') or "''" -%}
{%- set most_recent = ruled_by['most_recent'] | join(', ') or "''" %}
with

person_records_unioned as (
    select * from {{ ref('int_person_records_unioned') }}
),

record_customers as (
    select * from {{ ref('int_identity__record_customers') }}
),

nodes as (
    select * from {{ ref('int_identity__nodes') }}
),

{#
    The candidates: records of the tables that offer profile attributes (the union's
    `offers_profile_attributes`), not the orders, devices, transactions, surveys, email and consent
    events that merely carry an identifier. A support ticket gives no first or last name (the
    union keeps its requester's name as full_name only), so it offers an email and a phone only.
#}
person_records as (
    select
        source_name,
        table_name,
        record_id,
        first_name,
        last_name,
        email,
        phone,
        street,
        city,
        postcode,
        region,
        country as country_code,
        source_priority,
        observed_at
    from person_records_unioned
    where offers_profile_attributes
),

{# A person source's rank comes from its declaration (`priority:`), unless the seed ranks it. #}
seeded_source_priority as (
    select * from {{ ref('source_priority') }}
),

declared_source_priority as (
    select distinct
        source_name,
        table_name,
        source_priority as priority
    from person_records
    where source_priority is not null
),

source_priority as (
    select
        source_name,
        table_name,
        priority
    from seeded_source_priority
    union all
    select
        declared_source_priority.source_name,
        declared_source_priority.table_name,
        declared_source_priority.priority
    from declared_source_priority
    left join seeded_source_priority
        on
            declared_source_priority.source_name
            = seeded_source_priority.source_name
            and declared_source_priority.table_name
            = seeded_source_priority.table_name
    where seeded_source_priority.source_name is null
),

{# A value is a candidate only where the identity graph accepted it (no junk, no shared inbox). #}
linkable as (
    select
        identifier_type,
        identifier_value
    from nodes
    where is_linkable
),

candidates as (
    select
        record_customers.customer_id,
        'name' as attribute,
        person_records.first_name as value_1,
        person_records.last_name as value_2,
        cast(null as {{ dbt.type_string() }}) as value_3,
        cast(null as {{ dbt.type_string() }}) as value_4,
        cast(null as {{ dbt.type_string() }}) as value_5,
        case when person_records.first_name is not null then 1 else 0 end
        + case when person_records.last_name is not null then 1 else 0 end
            as completeness,
        person_records.source_name,
        person_records.table_name,
        person_records.record_id,
        person_records.observed_at
    from person_records
    inner join record_customers
        on
            person_records.source_name = record_customers.source_name
            and person_records.table_name = record_customers.table_name
            and person_records.record_id = record_customers.record_id
    where
        person_records.first_name is not null
        or person_records.last_name is not null
    {%- for identifier in ['email', 'phone'] %}
        union all
        select
            record_customers.customer_id,
            '{{ identifier }}' as attribute,
            person_records.{{ identifier }} as value_1,
            null as value_2,
            null as value_3,
            null as value_4,
            null as value_5,
            1 as completeness,
            person_records.source_name,
            person_records.table_name,
            person_records.record_id,
            person_records.observed_at
        from person_records
        inner join record_customers
            on
                person_records.source_name = record_customers.source_name
                and person_records.table_name = record_customers.table_name
                and person_records.record_id = record_customers.record_id
        inner join linkable
            on
                linkable.identifier_type = '{{ identifier }}'
                and person_records.{{ identifier }} = linkable.identifier_value
    {%- endfor %}
    union all
    select
        record_customers.customer_id,
        'address' as attribute,
        person_records.street as value_1,
        person_records.city as value_2,
        person_records.postcode as value_3,
        person_records.region as value_4,
        person_records.country_code as value_5,
        case when person_records.street is not null then 1 else 0 end
        + case when person_records.city is not null then 1 else 0 end
        + case when person_records.postcode is not null then 1 else 0 end
        + case when person_records.region is not null then 1 else 0 end
        + case when person_records.country_code is not null then 1 else 0 end
            as completeness,
        person_records.source_name,
        person_records.table_name,
        person_records.record_id,
        person_records.observed_at
    from person_records
    inner join record_customers
        on
            person_records.source_name = record_customers.source_name
            and person_records.table_name = record_customers.table_name
            and person_records.record_id = record_customers.record_id
    where
        person_records.street is not null or person_records.postcode is not null
),

scored as (
    select
        candidates.*,
        coalesce(source_priority.priority, 99) as source_priority,
        {#- Names and addresses are compared lower-cased. #}
        count(*) over (
            partition by
                candidates.customer_id,
                candidates.attribute,
                lower(candidates.value_1),
                lower(candidates.value_2),
                lower(candidates.value_3),
                lower(candidates.value_4),
                lower(candidates.value_5)
        ) as value_frequency,
        coalesce(length(candidates.value_1), 0)
        + coalesce(length(candidates.value_2), 0)
        + coalesce(length(candidates.value_3), 0)
        + coalesce(length(candidates.value_4), 0)
        + coalesce(length(candidates.value_5), 0) as value_length
    from candidates
    left join source_priority
        on
            candidates.source_name = source_priority.source_name
            and candidates.table_name = source_priority.table_name
),

{# A rule's key ranks its attributes only; ties fall to the default order. #}
final as (
    select
        scored.*,
        case scored.attribute
            when 'name' then '{{ rules.name }}'
            when 'email' then '{{ rules.email }}'
            when 'phone' then '{{ rules.phone }}'
            when 'address' then '{{ rules.address }}'
        end as survivorship_rule,
        row_number() over (
            partition by scored.customer_id, scored.attribute
            order by
                case
                    when scored.attribute in ({{ most_frequent }})
                        then scored.value_frequency
                end desc nulls last,
                case
                    when scored.attribute in ({{ longest }})
                        then scored.value_length
                end desc nulls last,
                case
                    when scored.attribute in ({{ most_recent }})
                        then scored.observed_at
                end desc nulls last,
                scored.source_priority asc,
                scored.observed_at desc,
                scored.completeness desc,
                scored.record_id asc
        ) as attribute_rank
    from scored
)

select * from final
