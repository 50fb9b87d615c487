{#-
    Connected components of the identity graph in portable SQL, for warehouses without dbt Python
    models (DuckDB uses scipy: models/identity/components/duckdb/). Min-label propagation with
    pointer jumping: each round a node takes the smallest label among itself and its neighbours,
    then jumps to its label's label, so the rounds grow with log(path length), not with it. Runs
    until no label changes. Returns a select of every linkable node with the smallest node_id of
    its component as `label_column`.

    Its scratch tables are named after the calling model (<model>__cc_*), so two models that call it
    can build at the same time; `drop_connected_components_scratch` (a post-hook) removes them.
    `edge_filter` keeps only some edges (e.g. the deterministic ones).
-#}
{% macro connected_components(nodes, edges, label_column, edge_filter='true', max_rounds=64) -%}
    {%- set labels = api.Relation.create(schema=this.schema, identifier=this.identifier ~ '__cc_labels') -%}
    {%- if execute -%}
        {%- set next_labels = api.Relation.create(schema=this.schema, identifier=this.identifier ~ '__cc_next') -%}
        {%- set neighbours = api.Relation.create(schema=this.schema, identifier=this.identifier ~ '__cc_edges') -%}
        {% do run_query("drop table if exists " ~ labels) %}
        {% do run_query("drop table if exists " ~ next_labels) %}
        {% do run_query("drop table if exists " ~ neighbours) %}
        {% do run_query(
            "create table " ~ labels ~ " as select node_id, node_id as label from " ~ nodes
            ~ " where is_linkable"
        ) %}
        {% do run_query(
            "create table " ~ neighbours ~ " as"
            ~ " select node_id_a as node_id, node_id_b as neighbour_id from " ~ edges ~ " where " ~ edge_filter
            ~ " union all select node_id_b, node_id_a from " ~ edges ~ " where " ~ edge_filter
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
            {{ exceptions.raise_compiler_error(this.identifier ~ ": connected components did not converge in " ~ max_rounds ~ " rounds") }}
        {%- endif -%}
        {{ log("identity: " ~ this.identifier ~ " converged in " ~ state.rounds ~ " rounds", info=true) }}
    {%- endif %}
    select
        node_id,
        label as {{ label_column }}
    from {{ labels }}
{%- endmacro %}

{% macro drop_connected_components_scratch() -%}
    {{ return(adapter.dispatch('drop_connected_components_scratch', 'tessera')()) }}
{%- endmacro %}

{% macro default__drop_connected_components_scratch() -%}
    {%- for suffix in ['labels', 'next', 'edges'] %}
    drop table if exists {{ api.Relation.create(schema=this.schema, identifier=this.identifier ~ '__cc_' ~ suffix) }};
    {%- endfor %}
{%- endmacro %}

{#- Spark runs one statement per call, so a hook of three statements fails to parse: each drop is its own
    call here, and the hook itself is empty (dbt skips an empty hook). -#}
{% macro spark__drop_connected_components_scratch() -%}
    {%- if execute -%}
        {%- for suffix in ['labels', 'next', 'edges'] -%}
            {%- do run_query(
                "drop table if exists "
                ~ api.Relation.create(schema=this.schema, identifier=this.identifier ~ '__cc_' ~ suffix)
            ) -%}
        {%- endfor -%}
    {%- endif -%}
{%- endmacro %}
