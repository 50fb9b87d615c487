{#-
    Connected components of the identity graph without its probabilistic edges, in portable SQL (the
    same partition as duckdb/int_identity__deterministic_components.py): what identity would be
    without probabilistic matching. Edges from a probabilistic link or a reviewer's decision carry
    their pair_id; the others do not.
-#}
-- depends_on: {{ ref('int_identity__nodes') }}
-- depends_on: {{ ref('int_identity__edges') }}
{{ config(materialized='table', post_hook="{{ tessera.drop_connected_components_scratch() }}") }}

{{ tessera.connected_components(
    ref('int_identity__nodes'), ref('int_identity__edges'), 'deterministic_component_id', edge_filter='pair_id is null'
) }}
