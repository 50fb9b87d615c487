{#- The distinct non-null values of `expr` among rows meeting `condition`, as text, sorted and joined
    with ', ' (a `distinct_list` trait). -#}
{% macro distinct_list(expr, condition) -%}
    {{ return(adapter.dispatch('distinct_list', 'tessera')(expr, condition)) }}
{%- endmacro %}

{% macro default__distinct_list(expr, condition) -%}
    string_agg(distinct cast({{ expr }} as {{ dbt.type_string() }}), ', ' order by cast({{ expr }} as {{ dbt.type_string() }}))
            filter (where {{ condition }})
{%- endmacro %}

{#- Spark: the set of values sorted and joined. Not `string_agg(distinct ...) within group (...)`: beside
    another distinct aggregate of the same query (a distinct_count trait), Spark 4.3's rewrite of distinct
    aggregates fails on it internally (ClassCastException: AttributeReference cannot be cast to
    SortOrder). collect_set skips nulls; no value gives null, as string_agg does. -#}
{% macro spark__distinct_list(expr, condition) -%}
    {%- set values = 'collect_set(cast(' ~ expr ~ ' as ' ~ dbt.type_string() ~ ')) filter (where ' ~ condition ~ ')' -%}
    case when size({{ values }}) > 0 then array_join(array_sort({{ values }}), ', ') end
{%- endmacro %}
