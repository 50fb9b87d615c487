{#-
    `column` when the raw table has it, else a typed null: loaders add a column only once a value
    arrives, so a preset's optional columns may be absent. `available` none means "take it as given".
-#}
{% macro column_or_null(column, available=none, data_type=none) -%}
    {%- if available is none or column | lower in available -%}
        {{ adapter.quote(column) if column | lower in ('timestamp', 'user', 'order') else column }}
    {%- else -%}
        cast(null as {{ data_type or dbt.type_string() }})
    {%- endif -%}
{%- endmacro %}
