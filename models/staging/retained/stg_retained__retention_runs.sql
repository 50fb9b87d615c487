with

source as (
    select * from {{ source('retained', 'retention_runs') }}
),

final as (
    select
        run_id,
        source_name,
        table_name,
        trigger as retention_trigger,
        cast(keep_days as integer) as keep_days,
        cast(rows_before as bigint) as rows_before,
        cast(rows_removed as bigint) as rows_removed,
        cast(rows_aggregated as bigint) as rows_aggregated,
        cast(aggregate_rows_written as bigint) as aggregate_rows_written,
        note,
        is_dry_run,
        cutoff_at,
        ran_at
    from source
)

select * from final
