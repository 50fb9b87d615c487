{#- Spark's most_frequent (macros/traits/trait_aggregate.sql): `mode` with its `deterministic` flag, so
    a tie goes to the smallest value, as Postgres's `mode() within group (order by ...)` breaks it;
    without the flag Spark returns whichever tied value its aggregation met first. -#}
{% macro spark__most_frequent(expr, condition) -%}
    mode({{ expr }}, true) filter (where {{ condition }} and {{ expr }} is not null)
{%- endmacro %}
