{#- The group() calls; the `accounts` table's state rows are stg_events__accounts. -#}
with

calls as (
    {{ tessera.rows_passing_quarantine(ref('base_events__groups')) }}
),

final as (
    select * from calls
    where not is_account_state
)

select * from final
