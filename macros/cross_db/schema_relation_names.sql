{#- The names of the tables and views in `schema` (the masked views left from an earlier build). -#}
{% macro schema_relation_names(schema) -%}
    {{ return(adapter.dispatch('schema_relation_names', 'tessera')(schema)) }}
{%- endmacro %}

{% macro default__schema_relation_names(schema) -%}
    {%- set found = run_query(
        "select table_name from information_schema.tables where table_schema = '" ~ schema ~ "'"
    ) -%}
    {{ return(found.columns[0].values() | list) }}
{%- endmacro %}

{#- Spark has no information_schema; `show tables` lists a database's tables and views
    (namespace, tableName, isTemporary). -#}
{% macro spark__schema_relation_names(schema) -%}
    {%- set found = run_query('show tables in ' ~ adapter.quote(schema)) -%}
    {%- set names = [] -%}
    {%- for row in found.rows if not row[2] -%}{%- do names.append(row[1]) -%}{%- endfor -%}
    {{ return(names) }}
{%- endmacro %}
