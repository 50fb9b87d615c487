{#-
    SQL that puts the session on UTC, run before a model that reads a loader's timestamps: Segment and
    RudderStack write `timestamp with time zone` on Postgres (and others), and casting one to
    `timestamp` takes the session's time zone, which is the server's unless set.
-#}
{% macro utc_session() -%}
    {{ return(adapter.dispatch('utc_session', 'tessera')()) }}
{%- endmacro %}

{% macro default__utc_session() -%}
    set time zone 'UTC'
{%- endmacro %}

{#-
    Nothing on DuckDB: the audience sandbox locks its configuration for the whole run
    (macros/audiences/audience_sandbox.sql), so TimeZone cannot change here; an empty hook is skipped.
-#}
{% macro duckdb__utc_session() -%}
{%- endmacro %}
