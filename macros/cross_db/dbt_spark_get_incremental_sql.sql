{#-
    `delete+insert` on Spark's plain Parquet tables (customer_id_map, the model stores, link state).
    dbt-spark knows only append, insert_overwrite, microbatch and merge (Delta, Iceberg or Hudi), and
    refuses any other strategy before running SQL. These two macros are dbt-spark's own, overridden
    here (the root project is searched first): the validation also accepts `delete+insert`, and its SQL
    is spark_delete_insert_sql; every other strategy goes to dbt-spark unchanged (`dbt.<name>` is
    dbt-spark's own: the `dbt` namespace holds the internal packages' macros, not the root project's
    overrides). DuckDB and Postgres never call them.
-#}
{% macro dbt_spark_validate_get_incremental_strategy(raw_strategy, file_format) %}
    {%- if raw_strategy == 'delete+insert' -%}
        {% do return(raw_strategy) %}
    {%- endif -%}
    {% do return(dbt.dbt_spark_validate_get_incremental_strategy(raw_strategy, file_format)) %}
{% endmacro %}

{% macro dbt_spark_get_incremental_sql(strategy, source, target, existing, unique_key, incremental_predicates) %}
    {%- if strategy == 'delete+insert' -%}
        {{ tessera.spark_delete_insert_sql(source, target, unique_key) }}
    {%- else -%}
        {{ dbt.dbt_spark_get_incremental_sql(strategy, source, target, existing, unique_key, incremental_predicates) }}
    {%- endif -%}
{% endmacro %}

{#-
    A plain Parquet table has no DELETE, and `insert overwrite` of a table from a query that reads it
    fails ("cannot overwrite a path that is also being read from"). So the merged table is written
    beside the target (the target's rows whose key is not among the new rows, then the new rows), the
    target is dropped and the merged table takes its name; the statement returned (dbt's 'main') is the
    rename. Between the drop and the rename the table does not exist: it lives in a build database no
    reader queries (write-audit-publish, docs/spark.md), and a failed build's database is dropped.
    A null key matches nothing, as in dbt's default delete+insert.
-#}
{% macro spark_delete_insert_sql(source, target, unique_key) %}
    {%- if not unique_key -%}
        {{ exceptions.raise_compiler_error("delete+insert on Spark needs a unique_key: " ~ target) }}
    {%- endif -%}
    {%- set keys = [unique_key] if unique_key is string else unique_key -%}
    {%- set merged = target.incorporate(path={"identifier": target.identifier ~ '__dbt_merged'}) -%}
    {%- set columns = adapter.get_columns_in_relation(target) | map(attribute='quoted') | join(', ') -%}
    {%- set matches = [] -%}
    {%- for key in keys -%}
        {%- do matches.append('incoming.' ~ key ~ ' = kept.' ~ key) -%}
    {%- endfor -%}
    {% do run_query("drop table if exists " ~ merged) %}
    {% do run_query(
        "create table " ~ merged ~ " using parquet as"
        ~ " select " ~ columns ~ " from " ~ target ~ " as kept"
        ~ " where not exists (select 1 from " ~ source ~ " as incoming where "
        ~ matches | join(' and ')
        ~ ")"
        ~ " union all select " ~ columns ~ " from " ~ source
    ) %}
    {% do run_query("drop table " ~ target) %}
    alter table {{ merged }} rename to {{ target.identifier }}
{% endmacro %}
