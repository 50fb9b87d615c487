{#-
    The run-time half of the audience SQL sandbox (docs/audiences.md): analyst-written audience
    models (audience_<name> for every audiences/<name>.yml) run where they cannot read files or
    anything but the project's models, even if SQL slipped past orchestration/audiences/sqlcheck.py.

    DuckDB: `enable_external_access = false` and `lock_configuration = true`. Both hold for the whole
    database instance, which dbt-duckdb shares between its threads, and neither can be undone; a
    second SET after the lock fails. So on-run-start sets them once, before any node runs, whenever
    the invocation builds a sandboxed audience: no race between two audiences' pre-hooks. Seeds are
    the only files dbt reads (raw data is loaded before dbt, the Python models hand Arrow tables to
    DuckDB, publishing opens a new process), so exactly the seed files stay in `allowed_paths`. The
    pre-hook locks the database itself if nothing did before (an invocation without the hook).

    Postgres: each sandboxed model builds as the nologin role tessera_analyst_sql (`set local role`,
    for the model's transaction), which may read only the model's own upstream relations, and has
    no file or superuser rights (pg_read_file, lo_import, COPY … PROGRAM are refused). Grants name
    those relations only, never `on all tables in schema` (other threads alter tables meanwhile),
    and an advisory lock makes sandboxed models take turns: two open transactions granting on one
    table fail with "tuple concurrently updated". The role owns the tables it builds.
    Known gap: dbt connects as a superuser, and `set role` is checked against the session user, so
    SQL calling set_config('role', …) or `reset role` could leave the role; the static check
    refuses both (functions and statements rules).
-#}

{% macro audience_sandbox_role() -%}
    {{ return(var('audience_sql_role', 'tessera_analyst_sql')) }}
{%- endmacro %}


{#- Whether `node` is an analyst-written audience model: one of the audiences (var audiences, from
    audiences/*.yml), or any other model in models/audiences/ but the project's own, so that a dbt
    command run without the vars does not build analyst SQL outside the sandbox. -#}
{% macro is_sandboxed_audience(node) -%}
    {%- set project_models = ['audience_memberships', 'audience_membership_history', 'audience_explanations',
        'audience_overlaps', 'audience_size_history', 'audience_priority_list_members'] -%}
    {%- set names = [] -%}
    {%- for audience in var('audiences', []) -%}{%- do names.append('audience_' ~ audience.name) -%}{%- endfor -%}
    {%- set in_folder = (node.original_file_path or '').startswith('models/audiences/') and node.name not in project_models -%}
    {{ return(node.resource_type == 'model' and (node.name in names or in_folder)) }}
{%- endmacro %}


{#- on-run-start: the statements that set the sandbox up for this invocation. -#}
{% macro audience_sandbox_on_run_start() -%}
    {%- if not execute -%}{{ return('') }}{%- endif -%}
    {%- set sandboxed = [] -%}
    {%- for unique_id in selected_resources -%}
        {%- set node = graph.nodes.get(unique_id) -%}
        {%- if node is not none and tessera.is_sandboxed_audience(node) -%}{%- do sandboxed.append(unique_id) -%}{%- endif -%}
    {%- endfor -%}
    {%- if not sandboxed -%}{{ return('') }}{%- endif -%}
    {{ return(adapter.dispatch('audience_sandbox_on_run_start', 'tessera')()) }}
{%- endmacro %}

{% macro default__audience_sandbox_on_run_start() -%}
    {{ exceptions.raise_compiler_error("audience SQL has no run-time sandbox on " ~ target.type ~ "; add tessera." ~ target.type ~ "__audience_sandbox_on_run_start") }}
{%- endmacro %}

{#- Seeds are CSV files DuckDB reads itself: exactly those stay readable (allowed_paths). -#}
{% macro duckdb__audience_sandbox_on_run_start() -%}
    {%- set seeds = [] -%}
    {%- for node in graph.nodes.values() if node.resource_type == 'seed' -%}
        {%- do seeds.append("'" ~ (node.root_path ~ '/' ~ node.original_file_path) | replace("'", "''") ~ "'") -%}
    {%- endfor -%}
    {{ return(tessera._duckdb_lock_down(seeds)) }}
{%- endmacro %}

{% macro postgres__audience_sandbox_on_run_start() -%}
    {%- set role = tessera.audience_sandbox_role() -%}
    {{ return(
        "do $$ begin if not exists (select 1 from pg_roles where rolname = '" ~ role | replace("'", "''") ~ "') then "
        ~ "create role " ~ adapter.quote(role) ~ " nologin; end if; "
        ~ "exception when duplicate_object then null; end $$; "
        ~ "create schema if not exists " ~ adapter.quote(target.schema) ~ "; "
        ~ "grant usage, create on schema " ~ adapter.quote(target.schema) ~ " to " ~ adapter.quote(role)
    ) }}
{%- endmacro %}


{#- DuckDB: both settings, unless an earlier hook already locked them (a second SET would fail). -#}
{% macro _duckdb_lock_down(allowed_paths=[]) -%}
    {%- set locked = run_query("select current_setting('lock_configuration')").columns[0].values()[0] -%}
    {%- if locked -%}{{ return('') }}{%- endif -%}
    {%- set statements = ['set allowed_paths = [' ~ allowed_paths | join(', ') ~ ']'] if allowed_paths else [] -%}
    {%- do statements.extend(['set enable_external_access = false', 'set lock_configuration = true']) -%}
    {{ return(statements | join('; ')) }}
{%- endmacro %}


{#- The relations a model reads: its parents' (models, seeds, snapshots); an ephemeral parent is
    compiled in as a CTE, so its own parents count instead. -#}
{% macro _audience_upstream_relations(unique_id) -%}
    {%- set found = [] -%}
    {%- for parent_id in graph.nodes[unique_id].depends_on.nodes -%}
        {%- set parent = graph.nodes.get(parent_id) -%}
        {%- if parent is not none and parent.resource_type in ('model', 'seed', 'snapshot') -%}
            {%- if parent.config.materialized == 'ephemeral' -%}
                {%- do found.extend(tessera._audience_upstream_relations(parent_id)) -%}
            {%- else -%}
                {%- do found.append(api.Relation.create(database=parent.database, schema=parent.schema, identifier=parent.alias) | string) -%}
            {%- endif -%}
        {%- endif -%}
    {%- endfor -%}
    {{ return(found) }}
{%- endmacro %}


{#- pre-hook, inside the model's transaction. -#}
{% macro audience_sandbox() -%}
    {%- if not execute or not tessera.is_sandboxed_audience(model) -%}{{ return('') }}{%- endif -%}
    {{ return(adapter.dispatch('audience_sandbox', 'tessera')()) }}
{%- endmacro %}

{% macro default__audience_sandbox() -%}
    {{ exceptions.raise_compiler_error("audience SQL has no run-time sandbox on " ~ target.type ~ "; add tessera." ~ target.type ~ "__audience_sandbox") }}
{%- endmacro %}

{% macro duckdb__audience_sandbox() -%}
    {{ return(tessera._duckdb_lock_down()) }}
{%- endmacro %}

{% macro postgres__audience_sandbox() -%}
    {%- set name = tessera.audience_sandbox_role() -%}
    {%- set role = adapter.quote(name) -%}
    {%- set statements = [] -%}
    {%- set relations = [] -%}
    {%- for relation in tessera._audience_upstream_relations(model.unique_id) -%}
        {%- if relation not in relations -%}{%- do relations.append(relation) -%}{%- endif -%}
    {%- endfor -%}
    {%- if relations -%}
        {#- Two transactions granting on one table fail with "tuple concurrently updated": the lock
            makes audience models take turns until each commits. -#}
        {%- do statements.append("select pg_advisory_xact_lock(hashtext('tessera_audience_sandbox'))") -%}
        {%- do statements.append('grant select on ' ~ relations | join(', ') ~ ' to ' ~ role) -%}
    {%- endif -%}
    {#- The table from the last build (copied into the build schema) is renamed away by the role. -#}
    {%- if adapter.get_relation(database=this.database, schema=this.schema, identifier=this.identifier) is not none -%}
        {%- do statements.append('alter table ' ~ this ~ ' owner to ' ~ role) -%}
    {%- endif -%}
    {%- do statements.append('set local role ' ~ role) -%}
    {#- SET LOCAL outside a transaction block only warns: make sure the role really is in effect. -#}
    {%- do statements.append(
        "do $$ begin if current_user <> '" ~ name | replace("'", "''") ~ "' then raise exception "
        ~ "'audience sandbox: % is not running as " ~ name | replace("'", "''") ~ "', '" ~ this.identifier ~ "'; end if; end $$"
    ) -%}
    {{ return(statements | join('; ')) }}
{%- endmacro %}
