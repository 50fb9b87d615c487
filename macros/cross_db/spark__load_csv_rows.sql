{#-
    Spark's version of dbt's load_csv_rows (dispatched in the `dbt` namespace, where the root project
    is searched first; DuckDB and Postgres keep dbt's): the seed's values written into the insert as
    literals (spark_seed_literal), not as bindings. dbt-spark binds through PyHive, which escapes a
    backslash by doubling it for a server that unescapes literals; under
    spark.sql.parser.escapedStringLiterals (the cluster's setting, docs/spark.md) Spark keeps both, so
    every blocklist pattern with `\+` became `\\+` and no phone rule matched a phone number.
-#}
{% macro spark__load_csv_rows(model, agate_table) %}
    {%- set batch_size = get_batch_size() -%}
    {%- set column_override = model['config'].get('column_types', {}) -%}
    {%- set statements = [] -%}
    {%- for chunk in agate_table.rows | batch(batch_size) -%}
        {%- set sql -%}
            insert into {{ this.render() }} values
            {% for row in chunk -%}
                ({%- for col_name in agate_table.column_names -%}
                    {%- set inferred_type = adapter.convert_type(agate_table, loop.index0) -%}
                    {%- set type = column_override.get(col_name, inferred_type) -%}
                    cast({{ tessera.spark_seed_literal(row[loop.index0]) }} as {{ type }})
                    {%- if not loop.last %}, {% endif -%}
                {%- endfor -%})
                {%- if not loop.last %},{% endif %}
            {% endfor %}
        {%- endset -%}
        {%- do adapter.add_query(sql, abridge_sql_log=True) -%}
        {%- if loop.index0 == 0 -%}
            {%- do statements.append(sql) -%}
        {%- endif -%}
    {%- endfor -%}
    {{ return(statements[0] if statements else '') }}
{% endmacro %}

{#- One seed value as a Spark literal that parses the same with and without escapedStringLiterals: a
    quote or backslash in a string is spliced in with chr(), so no literal holds one. -#}
{% macro spark_seed_literal(value) -%}
    {%- if value is none -%}
        null
    {%- elif value is sameas true or value is sameas false -%}
        {{ 'true' if value else 'false' }}
    {%- elif value is number -%}
        {{ value }}
    {%- else -%}
        {#- Quotes first: the backslash splice adds quotes of its own. -#}
        '{{ (value | string) | replace("'", "' || chr(39) || '") | replace("\\", "' || chr(92) || '") }}'
    {%- endif -%}
{%- endmacro %}
