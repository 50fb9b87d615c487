{#- A column type written as DuckDB and Postgres name it (a contract's `data_type`, a trait's type),
    for a cast in a model on the target warehouse. -#}
{% macro data_type(declared) -%}
    {{ return(adapter.dispatch('data_type', 'tessera')(declared)) }}
{%- endmacro %}

{% macro default__data_type(declared) -%}
    {{ return(declared) }}
{%- endmacro %}

{#- Spark 4 refuses `varchar` without a length (DATATYPE_MISSING_SIZE) and has no `double precision`. -#}
{% macro spark__data_type(declared) -%}
    {%- set spark_types = {
        'varchar': 'string',
        'text': 'string',
        'character varying': 'string',
        'double precision': 'double',
    } -%}
    {{ return(spark_types.get(declared.strip().lower(), declared)) }}
{%- endmacro %}
