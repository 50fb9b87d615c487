{#-
    Where probabilistic matching is skipped (see int_identity__match_model.sql) every edge is
    deterministic, so the deterministic components are the components.
-#}
with

components as (
    select * from {{ ref('int_identity__components') }}
),

final as (
    select
        node_id,
        component_id as deterministic_component_id
    from components
)

select * from final
