{#-
    Now, in UTC, as a timestamp without a time zone: the clock staging's event times are on (loaders'
    times are cast to naive UTC). `current_timestamp` cast to timestamp gives the session's local time
    instead (the host's zone on DuckDB, the server's or session's on Postgres), so a model comparing
    "now" or a time it stamps with an event time must use this.
-#}
{% macro utc_now() -%}
    {{ return(adapter.dispatch('utc_now', 'tessera')()) }}
{%- endmacro %}

{% macro default__utc_now() -%}
    timezone('UTC', current_timestamp)
{%- endmacro %}

{% macro spark__utc_now() -%}
    to_utc_timestamp(current_timestamp(), current_timezone())
{%- endmacro %}
