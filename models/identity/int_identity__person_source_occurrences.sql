{#-
    The identifiers of every staged person-source record (sources/person_sources.yml): its email,
    its phone and each typed external id, one row per (record, identifier). External ids are
    joined to their record by row, so the ids of a quarantined duplicate never attach to the record
    that was kept.
-#}
with

records as (
    select * from {{ ref('stg_person_sources__records') }}
),

external_ids as (
    select * from {{ ref('stg_person_sources__external_ids') }}
),

occurrences as (
    {%- for identifier in ['email', 'phone'] %}
        select
            source_name,
            table_name,
            record_id,
            '{{ identifier }}' as identifier_type,
            {{ identifier }} as identifier_value,
            observed_at
        from records
        where {{ identifier }} is not null
        union all
    {%- endfor %}
    select
        records.source_name,
        records.table_name,
        records.record_id,
        external_ids.identifier_type,
        external_ids.identifier_value,
        records.observed_at
    from external_ids
    inner join records
        on
            external_ids.source_name = records.source_name
            and external_ids.table_name = records.table_name
            and external_ids.row_number = records.row_number
),

final as (
    select distinct
        source_name,
        table_name,
        cast(record_id as {{ dbt.type_string() }}) as record_id,
        cast(identifier_type as {{ dbt.type_string() }}) as identifier_type,
        cast(identifier_value as {{ dbt.type_string() }}) as identifier_value,
        observed_at
    from occurrences
)

select * from final
