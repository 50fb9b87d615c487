with

quarantined_rows as (
    select * from {{ ref('quarantined_rows') }}
),

final as (
    select
        source_name,
        table_name,
        quarantine_reason,
        count(*) as row_count,
        min(loaded_at) as first_loaded_at,
        max(loaded_at) as last_loaded_at
    from quarantined_rows
    group by 1, 2, 3
)

select * from final
