{#-
    One trait of the registry (models/marts/traits/_traits__models.yml) as an aggregate over the
    rows of its source, per customer. `condition` is the trait's own filter plus its time window.
-#}
{% macro trait_aggregate(trait, condition) -%}
    {%- set kind = trait.kind -%}
    {%- set value = trait.get('property', '1') -%}
    {%- if kind == 'count' -%}
        count(*) filter (where {{ condition }})
    {%- elif kind in ('sum', 'avg', 'min', 'max') -%}
        {{ kind }}({{ value }}) filter (where {{ condition }})
    {%- elif kind == 'distinct_count' -%}
        count(distinct {{ value }}) filter (where {{ condition }})
    {%- elif kind == 'distinct_list' -%}
        {{ tessera.distinct_list(value, condition) }}
    {%- elif kind == 'first' -%}
        {{ tessera.value_at_extreme(value, 'occurred_at', condition, 'first') }}
    {%- elif kind == 'last' -%}
        {{ tessera.value_at_extreme(value, 'occurred_at', condition, 'last') }}
    {%- elif kind == 'most_frequent' -%}
        {{ tessera.most_frequent(value, condition) }}
    {%- else -%}
        {{ exceptions.raise_compiler_error("trait " ~ trait.name ~ ": unknown kind '" ~ kind ~ "' (count, sum, avg, min, max, first, last, most_frequent, distinct_list, distinct_count)") }}
    {%- endif -%}
{%- endmacro %}

{#- The value of `expr` on the earliest ('first') or latest ('last') row meeting `condition`. -#}
{% macro value_at_extreme(expr, order_by, condition, which) -%}
    {{ return(adapter.dispatch('value_at_extreme', 'tessera')(expr, order_by, condition, which)) }}
{%- endmacro %}

{% macro default__value_at_extreme(expr, order_by, condition, which) -%}
    {{ 'arg_min' if which == 'first' else 'arg_max' }}({{ expr }}, {{ order_by }})
        filter (where {{ condition }} and {{ expr }} is not null)
{%- endmacro %}

{% macro postgres__value_at_extreme(expr, order_by, condition, which) -%}
    (array_agg({{ expr }} order by {{ order_by }} {{ 'asc' if which == 'first' else 'desc' }})
        filter (where {{ condition }} and {{ expr }} is not null))[1]
{%- endmacro %}

{#- The most frequent non-null value of `expr` among rows meeting `condition`. -#}
{% macro most_frequent(expr, condition) -%}
    {{ return(adapter.dispatch('most_frequent', 'tessera')(expr, condition)) }}
{%- endmacro %}

{#- The ordered-set form breaks a tie by the smallest value, on DuckDB as on Postgres (plain `mode(x)` on
    DuckDB returns whichever tied value it met first, so a trait could change between two builds of the
    same rows). Spark's own form: macros/cross_db/spark__most_frequent.sql. -#}
{% macro default__most_frequent(expr, condition) -%}
    mode() within group (order by {{ expr }}) filter (where {{ condition }} and {{ expr }} is not null)
{%- endmacro %}
