{#-
    One row per source record that describes a person: the input of probabilistic matching.
    The column set is fixed: source_name, table_name, record_id, first_name, last_name, full_name,
    date_of_birth, email, phone, street, city, postcode, region, country. Values are the staged,
    normalised ones (email lower-cased, phone E.164, postcode without spaces) from
    int_person_records_unioned, which lists every source (a person source declared in
    sources/person_sources.yml too); a source without a column gives null. Records with no name at
    all are left out: names are what the matcher and its guard compare first.
-#}
with

person_records as (
    select * from {{ ref('int_person_records_unioned') }}
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
    where has_name
)

select * from final
