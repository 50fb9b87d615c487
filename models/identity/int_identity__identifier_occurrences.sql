{#-
    Every identifier seen in every person record: one row per (record, identifier). A node of the
    identity graph is (identifier_type, identifier_value), never the bare value. The Segment
    user_id is the shop's customer id (the shop logs people in with it), so it is typed as such.
    A record that names a person together with a date of birth or an address is also a node of its
    own (identifier_type `person_record`, value `source:table:record_id`, the weakest type): its
    record's identifiers join it, and a probabilistic link can place it when it has no identifier.
-#}
{%- set identifier_columns = [
    'crm_contact_id', 'shop_customer_id', 'loyalty_card', 'email', 'phone',
    'anonymous_id',
] -%}

with

person_records as (
    select * from {{ ref('int_person_records_unioned') }}
),

{# The typed external ids of the declared person sources. #}
person_source_occurrences as (
    select * from {{ ref('int_identity__person_source_occurrences') }}
),

final as (
    {%- for column in identifier_columns %}
        select
            source_name,
            table_name,
            record_id,
            '{{ column }}' as identifier_type,
            {{ column }} as identifier_value,
            observed_at
        from person_records
        where {{ column }} is not null
        union all
    {%- endfor %}
    select
        source_name,
        table_name,
        record_id,
        'person_record' as identifier_type,
        record_key as identifier_value,
        observed_at
    from person_records
    where has_name_evidence
    union all
    select
        source_name,
        table_name,
        record_id,
        identifier_type,
        identifier_value,
        observed_at
    from person_source_occurrences
)

select * from final
