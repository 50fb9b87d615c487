{#-
    Spark's version of dbt's get_empty_schema_sql (dispatched in the `dbt` namespace, where the root
    project is searched first; DuckDB and Postgres keep dbt's default): the "empty schema" query a
    model contract is checked against. The contracts' data types are written once, in the models'
    YAML, as DuckDB and Postgres name them; Spark 4 refuses `varchar` without a length
    (DATATYPE_MISSING_SIZE) and has no `double precision`, so those two are translated here
    (tessera.data_type).
-#}
{% macro spark__get_empty_schema_sql(columns) %}
    {%- set col_err = [] -%}
    select
    {% for i in columns %}
        {%- set col = columns[i] -%}
        {%- if col['data_type'] is not defined -%}
            {%- do col_err.append(col['name']) -%}
        {%- endif -%}
        {%- set declared = col.get('data_type') or '' -%}
        {%- set data_type = tessera.spark__data_type(declared) -%}
        {%- set col_name = adapter.quote(col['name']) if col.get('quote') else col['name'] %}
        {{ cast('null', data_type) }} as {{ col_name }}
        {{- ", " if not loop.last }}
    {%- endfor -%}
    {%- if (col_err | length) > 0 -%}
        {{ exceptions.column_type_missing(column_names=col_err) }}
    {%- endif -%}
{% endmacro %}
