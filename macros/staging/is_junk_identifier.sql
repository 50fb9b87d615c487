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
    The lookup forms of is_junk_identifier and junk_identifier_reason, the blocklist read while the
    query runs instead of written into the SQL: what a unit test (its blocklist is a fixture) and a
    compile before the seed exists run, and what tests/dbt/junk_identifier_forms_agree.sql compares the
    constants with. The default is the portable correlated subquery.
-#}
{% macro junk_identifier_looked_up(identifier_type, normalized_expr) -%}
    {{ return(adapter.dispatch('junk_identifier_looked_up', 'tessera')(identifier_type, normalized_expr)) }}
{%- endmacro %}

{% macro default__junk_identifier_looked_up(identifier_type, normalized_expr) -%}
    {{ tessera.default__is_junk_identifier(identifier_type, normalized_expr) }}
{%- endmacro %}

{#-
    Spark 4.3 fails on the correlated form when the value comes through a UNION (a unit test's fixture
    rows, the forms test's candidates): pushing the projection into the union loses the subquery's
    column ("key not found: pattern"). Here the subquery is uncorrelated: the type's patterns joined
    into one alternation of non-capturing groups (one that never matches when the type has none), and
    each value is matched against it.
-#}
{% macro spark__junk_identifier_looked_up(identifier_type, normalized_expr) -%}
    coalesce(
        {{ normalized_expr }} is not null and {{ tessera.regex_matches(normalized_expr, tessera.spark_blocklist_alternation(
            "blocklist.identifier_type = '" ~ identifier_type ~ "'"
        )) }},
        false
    )
{%- endmacro %}

{#- Spark: the blocklist's patterns that satisfy `condition`, as one regular expression (uncorrelated). -#}
{% macro spark_blocklist_alternation(condition) -%}
    (
        select coalesce(
            nullif(concat_ws('|', collect_list(concat('(?:', blocklist.pattern, ')'))), ''), '(?!)'
        )
        from {{ ref('identifier_blocklist') }} as blocklist
        where {{ condition }}
    )
{%- endmacro %}

{% macro junk_identifier_reason_looked_up(type_expr, value_expr) -%}
    {{ return(adapter.dispatch('junk_identifier_reason_looked_up', 'tessera')(type_expr, value_expr)) }}
{%- endmacro %}

{% macro default__junk_identifier_reason_looked_up(type_expr, value_expr) -%}
    {{ tessera.default__junk_identifier_reason(type_expr, value_expr) }}
{%- endmacro %}

{#-
    Spark: the correlated form fails as above, so the (type, reason) pairs are read once (as the
    constants are) and each pair's patterns are looked up while the query runs, as one alternation;
    the first pair that matches, in order of reason, is the least reason. Where the seed cannot be read
    (parse time) the portable form.
-#}
{% macro spark__junk_identifier_reason_looked_up(type_expr, value_expr) -%}
    {%- set rules = tessera.junk_identifier_rules() -%}
    {%- if rules is none -%}
        {{ tessera.default__junk_identifier_reason(type_expr, value_expr) }}
    {%- else -%}
        {%- set pairs = [] -%}
        {%- for rule in rules if (rule[0], rule[2]) not in pairs -%}
            {%- do pairs.append((rule[0], rule[2])) -%}
        {%- endfor -%}
        case
            {%- for identifier_type, reason in pairs %}
            when
                {{ type_expr }} = {{ tessera.sql_string(identifier_type) }}
                and {{ tessera.regex_matches(value_expr, tessera.spark_blocklist_alternation(
                    "blocklist.identifier_type = " ~ tessera.sql_string(identifier_type)
                    ~ " and blocklist.reason = " ~ tessera.sql_string(reason)
                )) }}
                then {{ tessera.sql_string(reason) }}
            {%- endfor %}
            else cast(null as {{ dbt.type_string() }})
        end
    {%- endif -%}
{%- endmacro %}

{#-
    Spark: the blocklist's rules written into the SQL as constants, as on DuckDB (a pattern held in a
    column is compiled per row); where the seed cannot be read (parse time, unit tests), the Spark
    lookup form above.
-#}
{% macro spark__is_junk_identifier(identifier_type, normalized_expr) -%}
    {%- if tessera.junk_identifier_patterns(identifier_type) is none -%}
        {{ tessera.spark__junk_identifier_looked_up(identifier_type, normalized_expr) }}
    {%- else -%}
        {{ tessera.duckdb__is_junk_identifier(identifier_type, normalized_expr) }}
    {%- endif -%}
{%- endmacro %}

{% macro spark__junk_identifier_reason(type_expr, value_expr) -%}
    {{ tessera.duckdb__junk_identifier_reason(type_expr, value_expr) }}
{%- endmacro %}
