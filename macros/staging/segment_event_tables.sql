{#-
    The per-event tables beside a Segment / RudderStack `tracks` table, with their columns, as
    {table_name: [column, …]}: every table in the same schema with the loader's prefix that has `id`,
    `event` and `event_text` columns, apart from the loader's own tables. Read from the warehouse's
    information schema in one query when the model runs (they are not known when dbt parses).
-#}
{% macro segment_event_tables(tracks_relation, table_prefix='') -%}
    {{ return(adapter.dispatch('segment_event_tables', 'tessera')(tracks_relation, table_prefix)) }}
{%- endmacro %}

{% macro default__segment_event_tables(tracks_relation, table_prefix='') -%}
    {%- if not execute -%}
        {{ return({}) }}
    {%- endif -%}
    {%- do tessera.attach_source_databases() -%}
    {%- set loader_tables = ['tracks', 'identifies', 'pages', 'screens', 'aliases', 'groups', 'users', 'accounts'] -%}
    {%- set query -%}
        select lower(table_name) as table_name, lower(column_name) as column_name
        from information_schema.columns
        where lower(table_schema) = lower('{{ tracks_relation.schema }}')
            {%- if tracks_relation.database %}
            and lower(table_catalog) = lower('{{ tracks_relation.database }}')
            {%- endif %}
        order by 1, 2
    {%- endset -%}
    {%- set columns = {} -%}
    {%- for row in run_query(query).rows -%}
        {%- set table = row[0] -%}
        {%- if table.startswith(table_prefix | lower) and table[table_prefix | length:] not in loader_tables -%}
            {%- do columns.setdefault(table, []).append(row[1]) -%}
        {%- endif -%}
    {%- endfor -%}
    {%- set tables = {} -%}
    {%- for table, names in columns.items() -%}
        {%- if 'id' in names and 'event' in names and 'event_text' in names -%}
            {%- do tables.update({table: names}) -%}
        {%- endif -%}
    {%- endfor -%}
    {{ return(tables) }}
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
