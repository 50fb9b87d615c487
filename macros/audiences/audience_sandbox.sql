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

    Postgres: the sandboxed models build in a dbt invocation of their own, logged in as the login
    role tessera_analyst_sql (profiles.yml target postgres_audience_sandbox; env TESSERA_PG_SANDBOX_USER),
    which has no superuser, file or role-changing rights: `set role`, `reset role` and
    set_config('role', …) are checked against the session user, which is that role. The build's own
    connection sets it up and takes it down (orchestration/warehouse/postgres_sandbox.py: it refuses an
    unsafe role, grants exactly what the models read, audits what the role left, revokes).
    The pre-hook only checks that the model really runs logged in as the role: a sandboxed model
    built on any other connection (a plain `dbt build` as the build's user) fails there.

    Spark (open-source, through the Thrift server): there are no users, grants or locked settings, so
    the boundary is the static check (orchestration/audiences/sqlcheck.py, its Spark rules; docs/spark.md).
    The pre-hook turns off, for the session the model runs in, the two things Spark does with a
    statement before any plan exists: `spark.sql.runSQLOnFiles` (a path named as a table,
    parquet.`file:///…`, would be read) and `spark.sql.variable.substitute` (`${env:…}` would be
    replaced by the server's environment). Both are session settings: SQL could set them back, which
    is why the static check refuses SET.
-#}

{% macro audience_sandbox_role() -%}
    {{ return(env_var('TESSERA_PG_SANDBOX_USER', '') or 'tessera_analyst_sql') }}
{%- endmacro %}


{#- Whether this invocation is the sandbox's own (Postgres): hooks that create objects as the build's
    user (UDFs, masked views) are skipped there; the role may create nothing but its tables. -#}
{% macro is_audience_sandbox_target() -%}
    {{ return(target.name == 'postgres_audience_sandbox') }}
{%- endmacro %}


{#- Whether `node` is an analyst-written audience model: one of the audiences (var audiences, from
    audiences/*.yml), or any other model in models/audiences/ but the project's own, so that a dbt
    command run without the vars does not build analyst SQL outside the sandbox. -#}
{% macro is_sandboxed_audience(node) -%}
    {%- set project_models = ['audience_memberships', 'audience_membership_history', 'audience_explanations',
        'audience_overlaps', 'audience_size_history', 'audience_priority_list_members', 'audience_lift'] -%}
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

{#- Nothing: the build's own connection sets the role up before the sandbox's invocation. -#}
{% macro postgres__audience_sandbox_on_run_start() -%}
    {{ return('') }}
{%- endmacro %}


{#- Nothing: on-run-start runs on a connection of its own; Spark's settings are per session, so the
    pre-hook sets them on the model's. -#}
{% macro spark__audience_sandbox_on_run_start() -%}
    {{ return('') }}
{%- endmacro %}


{#- DuckDB: both settings, unless an earlier hook already locked them (a second SET would fail). -#}
{% macro _duckdb_lock_down(allowed_paths=[]) -%}
    {%- set locked = run_query("select current_setting('lock_configuration')").columns[0].values()[0] -%}
    {%- if locked -%}{{ return('') }}{%- endif -%}
    {%- set statements = ['set allowed_paths = [' ~ allowed_paths | join(', ') ~ ']'] if allowed_paths else [] -%}
    {%- do statements.extend(['set enable_external_access = false', 'set lock_configuration = true']) -%}
    {{ return(statements | join('; ')) }}
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
    {%- set name = tessera.audience_sandbox_role() | replace("'", "''") -%}
    {{ return(
        "do $$ begin if session_user <> '" ~ name ~ "' or current_user <> '" ~ name ~ "' "
        ~ "or (select rolsuper from pg_roles where rolname = session_user) then raise exception "
        ~ "'audience sandbox: % must build logged in as " ~ name ~ " (the dbt target postgres_audience_sandbox, "
        ~ "which the build runs it with), not as %', '" ~ this.identifier ~ "', session_user; end if; end $$"
    ) }}
{%- endmacro %}

{#- The model's session: no path read as a table, no ${…} substitution (one statement per call on Spark). -#}
{% macro spark__audience_sandbox() -%}
    {%- do run_query('set spark.sql.variable.substitute=false') -%}
    {{ return('set spark.sql.runSQLOnFiles=false') }}
{%- endmacro %}
