{#-
    The latest traits of each group as the loader keeps them (the Segment / RudderStack `accounts`
    table), one row per group id, whether or not its group() calls are still in the warehouse. Empty on
    presets without an accounts table.
-#}
with

staged as (
    {{ tessera.rows_passing_quarantine(ref('base_events__groups')) }}
),

final as (
    select
        group_id,
        group_name,
        group_industry,
        group_plan,
        received_at,
        loaded_at
    from staged
    where is_account_state
)

select * from final
