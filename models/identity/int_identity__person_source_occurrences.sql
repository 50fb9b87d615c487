{#-
    The typed external ids of every staged person-source record (sources/person_sources.yml), one
    row per (record, identifier); the record's email and phone come through int_person_records_unioned.
    External ids are joined to their record by row, so the ids of a quarantined duplicate never
    attach to the record that was kept.
-#}
with

records as (
    select * from {{ ref('stg_person_sources__records') }}
),

external_ids as (
    select * from {{ ref('stg_person_sources__external_ids') }}
),

final as (
    select distinct
        records.source_name,
        records.table_name,
        cast(records.record_id as {{ dbt.type_string() }}) as record_id,
        cast(external_ids.identifier_type as {{ dbt.type_string() }})
            as identifier_type,
        cast(external_ids.identifier_value as {{ dbt.type_string() }})
            as identifier_value,
        records.observed_at
    from external_ids
    inner join records
        on
            external_ids.source_name = records.source_name
            and external_ids.table_name = records.table_name
            and external_ids.row_number = records.row_number
)

select * from final
