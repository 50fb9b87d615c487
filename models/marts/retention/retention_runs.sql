{#- Every retention enforcement: which raw table, the cut-off, what was
    removed and aggregated. -#}
with

retention_runs as (
    select * from {{ ref('stg_retained__retention_runs') }}
),

final as (
    select
        run_id,
        source_name,
        table_name,
        retention_trigger,
        note,
        keep_days,
        rows_before,
        rows_removed,
        rows_aggregated,
        aggregate_rows_written,
        cutoff_at,
        ran_at
    from retention_runs
    where not is_dry_run
)

select * from final
