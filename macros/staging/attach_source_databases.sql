{#-
    Attach each loader's own database file that sources/presets.yml declares under `databases:` (the
    `source_databases` var, {name: path}), read-only and under its declared name, so the presets' base
    models read the loader's tables in place: `database: <name>` in a source declaration. The first
    on-run-start hook: it must run before the audience sandbox turns external access off for the run.
    The macros that look into a loader's tables while a model compiles (relation_columns,
    segment_event_tables) call it too, for commands that run no hooks; attaching again does nothing.
-#}
{% macro attach_source_databases() -%}
    {{ return(adapter.dispatch('attach_source_databases', 'tessera')()) }}
{%- endmacro %}

{#- Elsewhere a database is the server's own (Postgres, Spark): there is no file to attach. -#}
{% macro default__attach_source_databases() -%}
    {%- if execute and var('source_databases', {}) -%}
        {{ exceptions.raise_compiler_error(
            "sources/presets.yml declares database files (databases:), which only DuckDB attaches: on "
            ~ target.type ~ " name the loader's database or catalog in a source's `database:`"
        ) }}
    {%- endif -%}
{%- endmacro %}

{% macro duckdb__attach_source_databases() -%}
    {%- if execute -%}
        {%- for name, path in (var('source_databases', {}) or {}).items() | sort -%}
            {%- do run_query(
                "attach if not exists '" ~ (path | replace("'", "''")) ~ "' as "
                ~ adapter.quote(name) ~ " (read_only)"
            ) -%}
        {%- endfor -%}
    {%- endif -%}
{%- endmacro %}
