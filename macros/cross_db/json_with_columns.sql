{#-
    A JSON object, as text: the `columns` (a list of column names) as keys with their values, and on top
    the keys of `json_expr` (JSON held as text, or none), which win over a column of the same name. A
    `json_expr` that is not a valid JSON object adds nothing: a malformed value costs its keys, not the
    row. The mapped events preset keeps a table's unmapped columns in the event's properties with it. A
    column's name is written as a quoted literal, so a name with a quote in it (a loader's header, say)
    stays one key.
-#}
{% macro json_with_columns(json_expr, columns) -%}
    {{ return(adapter.dispatch('json_with_columns', 'tessera')(json_expr, columns)) }}
{%- endmacro %}

{% macro default__json_with_columns(json_expr, columns) -%}
    {{ exceptions.raise_compiler_error(
        "json_with_columns has no implementation for " ~ target.type ~ " (macros/cross_db/json_with_columns.sql)") }}
{%- endmacro %}

{% macro duckdb__json_with_columns(json_expr, columns) -%}
    {%- set pairs = [] -%}
    {%- for column in columns -%}
        {%- do pairs.append("'" ~ column | replace("'", "''") ~ "', " ~ adapter.quote(column)) -%}
    {%- endfor -%}
    {%- set from_columns = 'json_object(' ~ pairs | join(', ') ~ ')' -%}
    {%- if json_expr is none -%}
        cast({{ from_columns }} as {{ dbt.type_string() }})
    {%- else -%}
        {%- set text = 'cast(' ~ json_expr ~ ' as ' ~ dbt.type_string() ~ ')' -%}
        cast(json_merge_patch(
            {{ from_columns }},
            case
                when json_valid({{ text }}) and json_type({{ text }}) = 'OBJECT' then {{ text }}
                else '{}'
            end
        ) as {{ dbt.type_string() }})
    {%- endif -%}
{%- endmacro %}

{#- jsonb_build_object takes at most 100 arguments: 50 columns a call, the calls concatenated. -#}
{% macro postgres__json_with_columns(json_expr, columns) -%}
    {%- set calls = [] -%}
    {%- for chunk in columns | batch(50) -%}
        {%- set pairs = [] -%}
        {%- for column in chunk -%}
            {%- do pairs.append("'" ~ column | replace("'", "''") ~ "', " ~ adapter.quote(column)) -%}
        {%- endfor -%}
        {%- do calls.append('jsonb_build_object(' ~ pairs | join(', ') ~ ')') -%}
    {%- endfor -%}
    {%- if not calls -%}
        {%- do calls.append("'{}'::jsonb") -%}
    {%- endif -%}
    {%- if json_expr is not none -%}
        {%- set parsed = target.schema ~ '.tessera_try_jsonb(cast(' ~ json_expr ~ ' as text))' -%}
        {%- do calls.append(
            "coalesce(case when jsonb_typeof(" ~ parsed ~ ") = 'object' then " ~ parsed ~ " end, '{}'::jsonb)"
        ) -%}
    {%- endif -%}
    cast({{ calls | join(' || ') }} as text)
{%- endmacro %}

{#- Spark: as string-valued maps (from_json gives null for invalid JSON); the object's keys replace the
    columns' before the maps are joined, since map_concat refuses a repeated key. -#}
{% macro spark__json_with_columns(json_expr, columns) -%}
    {%- set pairs = [] -%}
    {%- for column in columns -%}
        {%- do pairs.append("'" ~ column | replace("'", "''") ~ "', cast(" ~ adapter.quote(column) ~ " as string)") -%}
    {%- endfor -%}
    {%- set from_columns = 'map(' ~ pairs | join(', ') ~ ')' if pairs else 'map()' -%}
    {%- if json_expr is none -%}
        to_json({{ from_columns }})
    {%- else -%}
        {%- set parsed = "coalesce(from_json(cast(" ~ json_expr ~ " as string), 'map<string,string>'), map())" -%}
        to_json(map_concat(
            map_filter({{ from_columns }}, (k, v) -> not array_contains(map_keys({{ parsed }}), k)),
            {{ parsed }}
        ))
    {%- endif -%}
{%- endmacro %}
