{#-
    Connected components of the identity graph in portable SQL (Postgres and any other warehouse;
    DuckDB uses the scipy version in int_identity__components.py). Min-label propagation with
    pointer jumping: each round a node takes the smallest label among itself and its neighbours,
    then jumps to its label's label, so the rounds grow with log(path length), not with it. Runs
    until no label changes; each linkable node gets the smallest node_id of its component.
-#}
-- depends_on: {{ ref('int_identity__nodes') }}
-- depends_on: {{ ref('int_identity__edges') }}
{{ config(materialized='table') }}
{%- set max_rounds = 64 -%}
{%- if execute -%}
    {%- set labels = api.Relation.create(schema=this.schema, identifier='int_identity__cc_labels') -%}
    {%- set next_labels = api.Relation.create(schema=this.schema, identifier='int_identity__cc_next') -%}
    {%- set neighbours = api.Relation.create(schema=this.schema, identifier='int_identity__cc_edges') -%}
    {% do run_query("drop table if exists " ~ labels) %}
    {% do run_query("drop table if exists " ~ next_labels) %}
    {% do run_query("drop table if exists " ~ neighbours) %}
    {% do run_query(
        "create table " ~ labels ~ " as select node_id, node_id as label from " ~ ref('int_identity__nodes')
        ~ " where is_linkable"
    ) %}
    {% do run_query(
        "create table " ~ neighbours ~ " as"
        ~ " select node_id_a as node_id, node_id_b as neighbour_id from " ~ ref('int_identity__edges')
        ~ " union all select node_id_b, node_id_a from " ~ ref('int_identity__edges')
    ) %}
    {%- set state = namespace(converged=false, rounds=0) -%}
    {%- for round in range(max_rounds) if not state.converged -%}
        {% do run_query(
            "create table " ~ next_labels ~ " as"
            ~ " with propagated as ("
            ~ "     select labels.node_id, least(labels.label, coalesce(min(neighbour_labels.label), labels.label)) as label"
            ~ "     from " ~ labels ~ " as labels"
            ~ "     left join " ~ neighbours ~ " as neighbours on neighbours.node_id = labels.node_id"
            ~ "     left join " ~ labels ~ " as neighbour_labels on neighbour_labels.node_id = neighbours.neighbour_id"
            ~ "     group by labels.node_id, labels.label"
            ~ " ),"
            ~ " jumped as ("
            ~ "     select propagated.node_id, least(propagated.label, parent.label) as label"
            ~ "     from propagated inner join propagated as parent on parent.node_id = propagated.label"
            ~ " )"
            ~ " select jumped.node_id, least(jumped.label, grandparent.label) as label"
            ~ " from jumped inner join jumped as grandparent on grandparent.node_id = jumped.label"
        ) %}
        {%- set changed = run_query(
            "select count(*) from " ~ next_labels ~ " as next_labels inner join " ~ labels
            ~ " as labels on labels.node_id = next_labels.node_id where labels.label <> next_labels.label"
        ).columns[0].values()[0] -%}
        {% do run_query("drop table " ~ labels) %}
        {% do run_query("alter table " ~ next_labels ~ " rename to " ~ labels.identifier) %}
        {%- set state.rounds = round + 1 -%}
        {%- if changed == 0 -%}{%- set state.converged = true -%}{%- endif -%}
    {%- endfor -%}
    {%- if not state.converged -%}
        {{ exceptions.raise_compiler_error("connected components did not converge in " ~ max_rounds ~ " rounds") }}
    {%- endif -%}
    {{ log("identity: connected components converged in " ~ state.rounds ~ " rounds", info=true) }}
{%- endif %}

select
    node_id,
    label as component_id
from {{ this.schema }}.int_identity__cc_labels
