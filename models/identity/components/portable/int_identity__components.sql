{#-
    Connected components of the identity graph in portable SQL (Postgres and any other warehouse;
    DuckDB uses the scipy version in int_identity__components.py): every linkable node gets the
    smallest node_id of its component (macros/identity/connected_components.sql).
-#}
-- depends_on: {{ ref('int_identity__nodes') }}
-- depends_on: {{ ref('int_identity__edges') }}
{{ config(materialized='table', post_hook="{{ tessera.drop_connected_components_scratch() }}") }}

with

final as (
    {{ tessera.connected_components(ref('int_identity__nodes'), ref('int_identity__edges'), 'component_id') }}
)

select * from final
