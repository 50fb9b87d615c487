{#-
    True when a normalised identifier matches a pattern of its type in the identifier_blocklist
    seed (test@…, noreply@…, 0000000000, n/a, …). Null stays false: a missing value is not junk.

    The portable form looks the patterns up for every row. DuckDB then compiles a regular expression
    per row (the pattern is a column), about 50x slower than a constant pattern, so on DuckDB the
    blocklist's patterns for the type are read once while the model runs and written into the SQL
    as constants. Unit tests (whose blocklist is a fixture) and a compile before the seed exists use
    the portable form. tests/dbt/junk_identifier_forms_agree.sql checks both forms agree.
-#}
{% macro is_junk_identifier(identifier_type, normalized_expr) -%}
    {{ return(adapter.dispatch('is_junk_identifier', 'tessera')(identifier_type, normalized_expr)) }}
{%- endmacro %}

{% macro default__is_junk_identifier(identifier_type, normalized_expr) -%}
    coalesce(
        {{ normalized_expr }} is not null and exists (
            select 1
            from {{ ref('identifier_blocklist') }} as blocklist
            where blocklist.identifier_type = '{{ identifier_type }}'
                and {{ tessera.regex_matches(normalized_expr, 'blocklist.pattern') }}
        ),
        false
    )
{%- endmacro %}

{% macro duckdb__is_junk_identifier(identifier_type, normalized_expr) -%}
    {%- set patterns = tessera.junk_identifier_patterns(identifier_type) -%}
    {%- if patterns is none -%}
        {{ tessera.default__is_junk_identifier(identifier_type, normalized_expr) }}
    {%- else -%}
        coalesce(
            {{ normalized_expr }} is not null and (
                {%- for pattern in patterns %}
                {{ tessera.regex_matches(normalized_expr, "'" ~ pattern | replace("'", "''") ~ "'") }}
                {%- if not loop.last %} or {% endif %}
                {%- else %} false {%- endfor %}
            ),
            false
        )
    {%- endif -%}
{%- endmacro %}

{#-
    The blocklist's patterns of one identifier type, read from the seed as a model or a data test
    runs; none where they cannot be read: while parsing, in a unit test (its blocklist is a fixture
    rows, not the seed) and before the seed exists (a bare `dbt compile`).
-#}
{% macro junk_identifier_patterns(identifier_type) -%}
    {#- ref() before any return, so that every caller depends on the seed. -#}
    {%- set blocklist = ref('identifier_blocklist') -%}
    {%- if not execute or model.resource_type not in ('model', 'test') -%}
        {{ return(none) }}
    {%- endif -%}
    {%- if adapter.get_relation(blocklist.database, blocklist.schema, blocklist.identifier) is none -%}
        {{ return(none) }}
    {%- endif -%}
    {%- set found = run_query(
        "select pattern from " ~ blocklist ~ " where identifier_type = '" ~ identifier_type ~ "' order by 1"
    ) -%}
    {{ return(found.columns[0].values()) }}
{%- endmacro %}
