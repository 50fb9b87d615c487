{#-
    One value out of JSON held as text (or a JSON type), as text: `path` is a list of object keys
    (strings) and array positions (integers, from 0), e.g. [0, 'userId']. A value that is not valid
    JSON, or has nothing at the path, gives null instead of an error: a loader's malformed row costs
    that field, not the build.
-#}
{% macro json_text(expr, path) -%}
    {{ return(adapter.dispatch('json_text', 'tessera')(expr, path)) }}
{%- endmacro %}

{#- A JSONPath for `path`, to go inside a SQL string literal ('{{ tessera.json_path(path) }}'); a key may
    hold any character but a quote. Array positions are [n] everywhere; keys are written per warehouse. -#}
{% macro json_path(path) -%}
    {%- set parts = ['$'] -%}
    {%- for part in path -%}
        {%- if part is number -%}
            {%- do parts.append('[' ~ (part | int) ~ ']') -%}
        {%- elif '"' in part or "'" in part -%}
            {{ exceptions.raise_compiler_error("json_text: a key may not hold a quote: " ~ part) }}
        {%- else -%}
            {%- do parts.append(adapter.dispatch('json_path_key', 'tessera')(part)) -%}
        {%- endif -%}
    {%- endfor -%}
    {{ return(parts | join('')) }}
{%- endmacro %}

{#- DuckDB: a key double-quoted ('$[0]."userId"'). -#}
{% macro default__json_path_key(key) -%}
    {{ return('."' ~ key ~ '"') }}
{%- endmacro %}

{#- Spark: get_json_object reads a double-quoted key as no key at all (null for every row), so a key goes
    in brackets, its quotes escaped for the string literal around the path ('$[0][\'userId\']'). -#}
{% macro spark__json_path_key(key) -%}
    {{ return("[\\'" ~ key ~ "\\']") }}
{%- endmacro %}

{% macro default__json_text(expr, path) -%}
    {{ exceptions.raise_compiler_error(
        "json_text has no implementation for " ~ target.type ~ " (macros/cross_db/json_text.sql)") }}
{%- endmacro %}

{% macro duckdb__json_text(expr, path) -%}
    case
        when json_valid(cast({{ expr }} as {{ dbt.type_string() }}))
            then json_extract_string(
                cast({{ expr }} as {{ dbt.type_string() }}), '{{ tessera.json_path(path) }}'
            )
    end
{%- endmacro %}

{#- Postgres 15 cannot test text for JSON without parsing it: `create_udfs`' function catches the error. -#}
{% macro postgres__json_text(expr, path) -%}
    {%- set keys = [] -%}
    {%- for part in path -%}
        {%- if part is string and ('"' in part or "'" in part or ',' in part or '}' in part) -%}
            {{ exceptions.raise_compiler_error("json_text: a key may not hold a quote, comma or brace: " ~ part) }}
        {%- endif -%}
        {%- do keys.append(part | string) -%}
    {%- endfor -%}
    ({{ target.schema }}.tessera_try_jsonb(cast({{ expr }} as text)) #>> '{ {{- keys | join(',') -}} }')
{%- endmacro %}

{#- Spark's get_json_object gives null for invalid JSON. -#}
{% macro spark__json_text(expr, path) -%}
    get_json_object(cast({{ expr }} as string), '{{ tessera.json_path(path) }}')
{%- endmacro %}
