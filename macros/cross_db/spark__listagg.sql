{#-
    Spark's version of dbt's listagg (dispatched in the `dbt` namespace, where the root project is
    searched first; DuckDB and Postgres keep dbt's). dbt-spark's ignores the order (collect_list, with
    only a warning), so a list such as customer_identifiers.seen_in_sources came out in whatever order
    the shuffle left it. Spark 4 has the standard `listagg(... ) within group (order by ...)`, which
    takes `distinct` too (the order key must then be the measure, as it is for DuckDB's string_agg).
-#}
{% macro spark__listagg(measure, delimiter_text, order_by_clause, limit_num) -%}
    {%- if limit_num -%}
        {{ exceptions.raise_compiler_error("listagg with a limit is not implemented on Spark") }}
    {%- endif -%}
    listagg({{ measure }}, {{ delimiter_text }})
    {%- if order_by_clause %} within group ({{ order_by_clause }}){% endif %}
{%- endmacro %}
