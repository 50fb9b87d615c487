{#-
    One row per delivery of a track call in the per-event tables (Segment keeps each event's properties
    there, not on `tracks`), with the properties staging reads: message_id, received_at, loaded_at and the columns
    of `properties` ({staging column: property column}), typed; a table without a property gives null.
    The tables are found by segment_event_tables; with none, the select is empty.
-#}
{% macro segment_event_properties(tracks_relation, table_prefix='', properties={}) -%}
    {%- set types = {
        'product_id': dbt.type_string(), 'product_category': dbt.type_string(),
        'price': dbt.type_numeric(), 'order_id': dbt.type_string(), 'revenue': dbt.type_numeric(),
    } -%}
    {%- set tables = tessera.segment_event_tables(tracks_relation, table_prefix) -%}
    {%- for table, available in tables.items() %}
    select
        cast(id as {{ dbt.type_string() }}) as message_id,
        cast({{ tessera.column_or_null('received_at', available, dbt.type_timestamp()) }} as {{ dbt.type_timestamp() }}) as received_at,
        cast({{ tessera.segment_loaded_at(available) }} as {{ dbt.type_timestamp() }}) as loaded_at,
        {%- for column, data_type in types.items() %}
        cast({{ tessera.column_or_null(properties.get(column, column), available, data_type) }} as {{ data_type }}) as {{ column }}
        {%- if not loop.last %},{% endif %}
        {%- endfor %}
    from {{ api.Relation.create(database=tracks_relation.database, schema=tracks_relation.schema, identifier=table) }}
    {%- if not loop.last %}
    union all
    {%- endif %}
    {%- else %}
    select
        cast(null as {{ dbt.type_string() }}) as message_id,
        cast(null as {{ dbt.type_timestamp() }}) as received_at,
        cast(null as {{ dbt.type_timestamp() }}) as loaded_at,
        {%- for column, data_type in types.items() %}
        cast(null as {{ data_type }}) as {{ column }}
        {%- if not loop.last %},{% endif %}
        {%- endfor %}
    where 1 = 0
    {%- endfor %}
{%- endmacro %}
