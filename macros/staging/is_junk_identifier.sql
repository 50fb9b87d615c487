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

{#-
    The blocklist's reason for an identifier of a type given as an expression (the first reason in
    alphabetical order among the patterns it matches), or null. As with is_junk_identifier, DuckDB gets
    the seed's rules written into the SQL as constants (a pattern held in a column is compiled once
    per row); the portable form looks them up for every row, in a correlated subquery: pass qualified
    column names, or the blocklist's own columns shadow them.
-#}
{% macro junk_identifier_reason(type_expr, value_expr) -%}
    {{ return(adapter.dispatch('junk_identifier_reason', 'tessera')(type_expr, value_expr)) }}
{%- endmacro %}

{% macro default__junk_identifier_reason(type_expr, value_expr) -%}
    (
        select min(blocklist.reason)
        from {{ ref('identifier_blocklist') }} as blocklist
        where
            blocklist.identifier_type = {{ type_expr }}
            and {{ tessera.regex_matches(value_expr, 'blocklist.pattern') }}
    )
{%- endmacro %}

{% macro duckdb__junk_identifier_reason(type_expr, value_expr) -%}
    {%- set rules = tessera.junk_identifier_rules() -%}
    {%- if rules is none -%}
        {{ tessera.default__junk_identifier_reason(type_expr, value_expr) }}
    {%- elif rules | length == 0 -%}
        cast(null as {{ dbt.type_string() }})
    {%- else -%}
        case
            {%- for rule in rules %}
            when
                {{ type_expr }} = {{ tessera.sql_string(rule[0]) }}
                and {{ tessera.regex_matches(value_expr, tessera.sql_string(rule[1])) }}
                then {{ tessera.sql_string(rule[2]) }}
            {%- endfor %}
        end
    {%- endif -%}
{%- endmacro %}

{#- Every rule of the blocklist (type, pattern, reason), by type and reason; none where the seed
    cannot be read (see junk_identifier_patterns). -#}
{% macro junk_identifier_rules() -%}
    {%- set blocklist = ref('identifier_blocklist') -%}
    {%- if not execute or model.resource_type not in ('model', 'test') -%}
        {{ return(none) }}
    {%- endif -%}
    {%- if adapter.get_relation(blocklist.database, blocklist.schema, blocklist.identifier) is none -%}
        {{ return(none) }}
    {%- endif -%}
    {%- set found = run_query(
        "select identifier_type, pattern, reason from " ~ blocklist ~ " order by 1, 3, 2"
    ) -%}
    {{ return(found.rows | list) }}
{%- endmacro %}

{% macro sql_string(value) -%}
    '{{ value | replace("'", "''") }}'
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
