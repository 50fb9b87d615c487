{#-
    Connected components of the identity graph without its probabilistic edges, in portable SQL (the
    same partition as duckdb/int_identity__deterministic_components.py): what identity would be
    without probabilistic matching, computed from the identifier edges alone, so that the
    probabilistic links can use it (a rejected pair's parts, int_identity__probabilistic_links).
-#}
-- depends_on: {{ ref('int_identity__nodes') }}
-- depends_on: {{ ref('int_identity__identifier_edges') }}
{{ config(materialized='table', post_hook="{{ tessera.drop_connected_components_scratch() }}") }}

with

final as (
    {{ tessera.connected_components(
        ref('int_identity__nodes'), ref('int_identity__identifier_edges'), 'deterministic_component_id'
    ) }}
)

select * from final
