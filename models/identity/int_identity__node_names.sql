{#- The first names of the records each identifier is seen in (three-letter prefixes, nicknames resolved). -#}
with

clean_occurrences as (
    select * from {{ ref('int_identity__clean_occurrences') }}
),

record_names as (
    select * from {{ ref('int_identity__record_names') }}
),

final as (
    select distinct
        clean_occurrences.identifier_type,
        clean_occurrences.identifier_value,
        clean_occurrences.check_names,
        record_names.first_name_prefix,
        record_names.last_name_prefix
    from clean_occurrences
    inner join record_names
        on
            clean_occurrences.source_name = record_names.source_name
            and clean_occurrences.table_name = record_names.table_name
            and clean_occurrences.record_id = record_names.record_id
)

select * from final
