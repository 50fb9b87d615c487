{#-
    is_junk_identifier for large tables. DuckDB compiles a regular expression for every row when
    the pattern is a column (the blocklist's), about 50x slower than a constant pattern; so on
    DuckDB, while a model runs, the blocklist's patterns for the type are read once and written
    into the SQL as constants. Unit tests (whose blocklist is a fixture), a compile before the seed
    exists and other warehouses use is_junk_identifier as it is. Same result either way.
-#}
{% macro is_junk_identifier_fast(identifier_type, normalized_expr) -%}
    {{ return(adapter.dispatch('is_junk_identifier_fast', 'tessera')(identifier_type, normalized_expr)) }}
{%- endmacro %}

{% macro default__is_junk_identifier_fast(identifier_type, normalized_expr) -%}
    {{ tessera.is_junk_identifier(identifier_type, normalized_expr) }}
{%- endmacro %}

{% macro duckdb__is_junk_identifier_fast(identifier_type, normalized_expr) -%}
    {%- set blocklist = ref('identifier_blocklist') -%}
    {%- set seeded = none -%}
    {%- if execute and model.resource_type == 'model' -%}
        {#- Not yet seeded (a bare `dbt compile`): fall back rather than fail. -#}
        {%- set seeded = adapter.get_relation(blocklist.database, blocklist.schema, blocklist.identifier) -%}
    {%- endif -%}
    {%- if seeded is not none -%}
        {%- set found = run_query(
            "select pattern from " ~ blocklist ~ " where identifier_type = '" ~ identifier_type ~ "' order by 1"
        ) -%}
        {%- set patterns = found.columns[0].values() -%}
        coalesce(
            {{ normalized_expr }} is not null and (
                {%- for pattern in patterns %}
                {{ tessera.regex_matches(normalized_expr, "'" ~ pattern | replace("'", "''") ~ "'") }}
                {%- if not loop.last %} or {% endif %}
                {%- else %} false {%- endfor %}
            ),
            false
        )
    {%- else -%}
        {{ tessera.is_junk_identifier(identifier_type, normalized_expr) }}
    {%- endif -%}
{%- endmacro %}
