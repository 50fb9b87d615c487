{#-
    Spark's version of dbt's dateadd (dispatched in the `dbt` namespace, where the root project is
    searched first; DuckDB and Postgres keep dbt's). dbt-spark's goes through to_unix_timestamp, which
    drops the fraction of a second: the prediction features' training cut-off (the last event less
    365 days) came out at 17:49:24.000000 where DuckDB has 17:49:24.876071, and an event in that
    second fell on the other side of it. Spark's timestampadd keeps the microseconds, and adds
    calendar days and months as DuckDB's `+ interval` does (in the session's time zone, UTC).
-#}
{% macro spark__dateadd(datepart, interval, from_date_or_timestamp) %}
    timestampadd({{ datepart }}, {{ interval }}, {{ from_date_or_timestamp }})
{% endmacro %}
