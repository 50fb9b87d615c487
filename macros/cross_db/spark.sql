{#-
    Apache Spark (dbt-spark; issue #17, docs/spark.md): the spark__ variants of the dispatched macros.
    Only Spark reaches these; DuckDB and Postgres keep their own. Where the portable default already
    works on Spark (regexp_like, sha2, translate, `set time zone`, no UDFs) there is no variant here.
-#}

{#- Spark's to_json takes a struct, not a table alias. -#}
{% macro spark__row_to_json(alias) -%}
    cast(to_json(struct({{ alias }}.*)) as string)
{%- endmacro %}

{#- Spark has try_cast; an empty or blank text is null, as on the other warehouses. -#}
{% macro spark__try_cast_timestamp(expr) -%}
    try_cast(nullif(trim({{ expr }}), '') as timestamp)
{%- endmacro %}

{#-
    The blocklist's rules written into the SQL as constants, as on DuckDB: the portable form's
    correlated subquery (a regular expression held in a column, compared per row) is not a form
    Spark decorrelates. Falls back to the portable form where the seed cannot be read (parse time,
    unit tests), where Spark may then refuse it.
-#}
{% macro spark__is_junk_identifier(identifier_type, normalized_expr) -%}
    {{ tessera.duckdb__is_junk_identifier(identifier_type, normalized_expr) }}
{%- endmacro %}

{% macro spark__junk_identifier_reason(type_expr, value_expr) -%}
    {{ tessera.duckdb__junk_identifier_reason(type_expr, value_expr) }}
{%- endmacro %}

{#- Spark has no information_schema for its session catalog: list the loader's schema through the adapter. -#}
{% macro spark__segment_event_tables(tracks_relation, table_prefix='') -%}
    {%- if not execute -%}
        {{ return({}) }}
    {%- endif -%}
    {%- set loader_tables = ['tracks', 'identifies', 'pages', 'screens', 'aliases', 'groups', 'users', 'accounts'] -%}
    {%- set tables = {} -%}
    {%- for relation in adapter.list_relations(database=none, schema=tracks_relation.schema) -%}
        {%- set table = relation.identifier | lower -%}
        {%- if table.startswith(table_prefix | lower) and table[table_prefix | length:] not in loader_tables -%}
            {%- set names = adapter.get_columns_in_relation(relation) | map(attribute='name') | map('lower') | list -%}
            {%- if 'id' in names and 'event' in names and 'event_text' in names -%}
                {%- do tables.update({table: names | sort}) -%}
            {%- endif -%}
        {%- endif -%}
    {%- endfor -%}
    {{ return(tables) }}
{%- endmacro %}
