{#-
    The typed external ids of person-source rows, normalised per type: a loyalty card the way the
    tills write it (upper case, letters and digits), any other id trimmed. Ids of a record that
    staging quarantined are kept here but never reach identity (it joins on the staged records).
-#}
with

source as (
    select * from {{ source('person_sources', 'external_ids') }}
),

normalised as (
    select
        source_name,
        table_name,
        nullif(trim(record_id), '') as record_id,
        row_number,
        identifier_type,
        identifier_value as identifier_value_raw,
        case
            when identifier_type = 'loyalty_card'
                then
                    nullif(
                        upper(
                            regexp_replace(
                                identifier_value, '[^0-9A-Za-z]', '', 'g'
                            )
                        ),
                        ''
                    )
            else nullif(trim(identifier_value), '')
        end as identifier_value,
        type_priority,
        type_max_per_customer,
        type_max_group_size,
        type_description,
        cast(_loaded_at as timestamp) as loaded_at
    from source
),

final as (
    select
        *,
        {{ tessera.quarantine_reason([
            ("record_id is null", "missing record id"),
            ("identifier_value is null", "empty identifier"),
        ]) }} as quarantine_reason
    from normalised
)

select * from final
