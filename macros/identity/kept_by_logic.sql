{#-
    True when this build of an incremental model adds to the rows it holds; otherwise it computes every
    row again: on the first build, a full refresh, and when its rows were computed by other logic (the
    column `logic_column` of a row is not `fingerprint`, or the table has no such column). Then the old
    table is dropped here, as the model runs, so dbt builds it whole. Only a run, build or retry drops
    anything; a compile only reads. `rows_name` names a row, for the log.
-#}
{% macro kept_by_logic(logic_column, fingerprint, rows_name) -%}
    {%- set known = tessera.kept_before_looking() -%}
    {%- if known is not none -%}
        {{ return(known) }}
    {%- endif -%}
    {%- set why = none -%}
    {%- set columns = adapter.get_columns_in_relation(this) | map(attribute='name') | map('lower') | list -%}
    {%- if logic_column not in columns -%}
        {%- set why = 'its rows carry no ' ~ logic_column -%}
    {%- else -%}
        {%- set other = run_query(
            "select count(*) from (select 1 as found from " ~ this ~ " where " ~ logic_column
            ~ " is null or " ~ logic_column ~ " <> '" ~ fingerprint ~ "' limit 1) as other"
        ) -%}
        {%- if other.rows[0][0] | int > 0 -%}
            {%- set why = 'what computed its rows changed (' ~ logic_column ~ ')' -%}
        {%- endif -%}
    {%- endif -%}
    {{ return(tessera.kept_unless(why, 'computing every ' ~ rows_name ~ ' again')) }}
{%- endmacro %}

{#- Each of `columns` as text with its length before it (null as '-'), a list to concatenate and digest:
    no two different rows give one text by shifting characters between columns. -#}
{% macro length_prefixed(columns) -%}
    {%- set parts = [] -%}
    {%- for column in columns -%}
        {%- set text = 'cast(' ~ column ~ ' as ' ~ dbt.type_string() ~ ')' -%}
        {%- do parts.append("coalesce(cast(length(" ~ text ~ ") as " ~ dbt.type_string() ~ ") || ':' || "
            ~ text ~ ", '-')") -%}
        {%- if not loop.last -%}
            {%- do parts.append("'|'") -%}
        {%- endif -%}
    {%- endfor -%}
    {{ return(parts) }}
{%- endmacro %}

{#- A digest of `columns` of a row, as text, that tells apart any two rows a model should: portable, md5 of
    the columns each with its length before it (length_prefixed); on DuckDB its own 64-bit hash of the
    values, five times cheaper. A digest compares a row with the same row's earlier digest only, so a
    change of the digest's form (another warehouse's, a new DuckDB) computes each row once more. -#}
{% macro row_digest(columns) -%}
    {{ return(adapter.dispatch('row_digest', 'tessera')(columns)) }}
{%- endmacro %}

{% macro default__row_digest(columns) -%}
    {{ dbt.hash(dbt.concat(tessera.length_prefixed(columns))) }}
{%- endmacro %}

{% macro duckdb__row_digest(columns) -%}
    cast(hash({{ columns | join(', ') }}) as {{ dbt.type_string() }})
{%- endmacro %}
