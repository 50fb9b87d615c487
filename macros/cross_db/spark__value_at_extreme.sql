{#- Spark's value_at_extreme (macros/traits/trait_aggregate.sql): Spark calls arg_min / arg_max
    `min_by` / `max_by`. -#}
{% macro spark__value_at_extreme(expr, order_by, condition, which) -%}
    {{ 'min_by' if which == 'first' else 'max_by' }}({{ expr }}, {{ order_by }})
        filter (where {{ condition }} and {{ expr }} is not null)
{%- endmacro %}
