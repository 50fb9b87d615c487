{#-
    One value out of an element of a JSON array held as text, as text: of the array at `items` (a
    json_text path; [] for the value itself), the first element whose `key` field begins with `prefix`,
    then the value at `path` (a json_text path) inside it. Snowplow's self-describing JSON needs it:
    its contexts are an array of {"schema": "iglu:<vendor>/<name>/jsonschema/<version>", "data": {…}},
    and an entity is found by its schema, not by its place. Null-safe like json_text: JSON that is not
    valid, not an array where one is expected, or without a matching element gives null, never an error.
-#}
{% macro json_item_text(expr, items, key, prefix, path) -%}
    {%- if '"' in key or "'" in key or ',' in key or '}' in key -%}
        {{ exceptions.raise_compiler_error("json_item_text: a key may not hold a quote, comma or brace: " ~ key) }}
    {%- endif -%}
    {{ return(adapter.dispatch('json_item_text', 'tessera')(expr, items, key, prefix, path)) }}
{%- endmacro %}

{#- `prefix` as a SQL string literal. -#}
{% macro json_item_prefix(prefix) -%}
    {{ return("'" ~ (prefix | replace("'", "''")) ~ "'") }}
{%- endmacro %}

{% macro default__json_item_text(expr, items, key, prefix, path) -%}
    {{ exceptions.raise_compiler_error(
        "json_item_text has no implementation for " ~ target.type ~ " (macros/cross_db/json_item_text.sql)") }}
{%- endmacro %}

{#- DuckDB: the array's elements as a list (none when it is no array), filtered by a lambda. -#}
{% macro duckdb__json_item_text(expr, items, key, prefix, path) -%}
    {%- set text = 'cast(' ~ expr ~ ' as ' ~ dbt.type_string() ~ ')' -%}
    case
        when json_valid({{ text }})
            then json_extract_string(
                list_filter(
                    json_extract({{ text }}, '{{ tessera.json_path(items) }}[*]'),
                    lambda item: substr(
                        json_extract_string(item, '{{ tessera.json_path([key]) }}'), 1, {{ prefix | length }}
                    ) = {{ tessera.json_item_prefix(prefix) }}
                )[1],
                '{{ tessera.json_path(path) }}'
            )
    end
{%- endmacro %}

{#- Postgres: tessera_try_jsonb (create_udfs) parses or gives null; the elements in order, the first match. -#}
{% macro postgres__json_item_text(expr, items, key, prefix, path) -%}
    {%- set paths = [] -%}
    {%- for parts in [items, path] -%}
        {%- set keys = [] -%}
        {%- for part in parts -%}
            {%- if part is string and ('"' in part or "'" in part or ',' in part or '}' in part) -%}
                {{ exceptions.raise_compiler_error(
                    "json_item_text: a key may not hold a quote, comma or brace: " ~ part) }}
            {%- endif -%}
            {%- do keys.append(part | string) -%}
        {%- endfor -%}
        {%- do paths.append("'{" ~ keys | join(',') ~ "}'") -%}
    {%- endfor -%}
    (
        select json_item.value #>> {{ paths[1] }}
        from (
            select {{ target.schema }}.tessera_try_jsonb(cast({{ expr }} as text)) #> {{ paths[0] }} as json_items
        ) as parsed
        cross join lateral jsonb_array_elements(
            case when jsonb_typeof(parsed.json_items) = 'array' then parsed.json_items end
        ) with ordinality as json_item (value, position)
        where
            substr(json_item.value ->> '{{ key }}', 1, {{ prefix | length }})
            = {{ tessera.json_item_prefix(prefix) }}
        order by json_item.position
        limit 1
    )
{%- endmacro %}

{#- Spark: from_json reads the array's elements as JSON text (null for invalid JSON or no array). -#}
{% macro spark__json_item_text(expr, items, key, prefix, path) -%}
    get_json_object(
        try_element_at(
            filter(
                from_json(
                    get_json_object(cast({{ expr }} as string), '{{ tessera.json_path(items) }}'),
                    'array<string>'
                ),
                json_item -> substr(
                    get_json_object(json_item, '{{ tessera.json_path([key]) }}'), 1, {{ prefix | length }}
                ) = {{ tessera.json_item_prefix(prefix) }}
            ),
            1
        ),
        '{{ tessera.json_path(path) }}'
    )
{%- endmacro %}
