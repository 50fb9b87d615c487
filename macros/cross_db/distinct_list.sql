{#- The distinct non-null values of `expr` among rows meeting `condition`, as text, sorted and joined
    with ', ' (a `distinct_list` trait). -#}
{% macro distinct_list(expr, condition) -%}
    {{ return(adapter.dispatch('distinct_list', 'tessera')(expr, condition)) }}
{%- endmacro %}

{% macro default__distinct_list(expr, condition) -%}
    string_agg(distinct cast({{ expr }} as {{ dbt.type_string() }}), ', ' order by cast({{ expr }} as {{ dbt.type_string() }}))
            filter (where {{ condition }})
{%- endmacro %}

{#- Spark takes the order as `within group`, after the arguments. -#}
{% macro spark__distinct_list(expr, condition) -%}
    string_agg(distinct cast({{ expr }} as {{ dbt.type_string() }}), ', ')
            within group (order by cast({{ expr }} as {{ dbt.type_string() }}))
            filter (where {{ condition }})
{%- endmacro %}
