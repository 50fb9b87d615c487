{#-
    Fails, one row per (source_name, table_name), when the records of `model` are not each listed
    exactly once across `placed` and `unresolved` (all three keyed by source_name, table_name,
    record_id): a record silently left out, listed twice, or listed without being a record.
-#}
{% test every_record_accounted_for(model, placed, unresolved) %}
    with

    records as (
        select distinct source_name, table_name, record_id from {{ model }}
    ),

    listed as (
        select source_name, table_name, record_id from {{ placed }}
        union all
        select source_name, table_name, record_id from {{ unresolved }}
    ),

    listing_counts as (
        select
            source_name,
            table_name,
            record_id,
            count(*) as times_listed
        from listed
        group by 1, 2, 3
    ),

    compared as (
        select
            coalesce(records.source_name, listing_counts.source_name) as source_name,
            coalesce(records.table_name, listing_counts.table_name) as table_name,
            case when records.record_id is null then 1 else 0 end as is_not_a_record,
            case when listing_counts.record_id is null then 1 else 0 end as is_missing,
            case when listing_counts.times_listed > 1 then 1 else 0 end as is_listed_twice
        from records
        full outer join listing_counts
            on
                records.source_name = listing_counts.source_name
                and records.table_name = listing_counts.table_name
                and records.record_id = listing_counts.record_id
    )

    select
        source_name,
        table_name,
        sum(is_missing) as records_missing,
        sum(is_listed_twice) as records_listed_twice,
        sum(is_not_a_record) as listed_but_not_records
    from compared
    group by 1, 2
    having sum(is_missing) + sum(is_listed_twice) + sum(is_not_a_record) > 0
{% endtest %}
