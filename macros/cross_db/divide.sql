{#- `numerator / denominator` where the numerator may be a decimal (money) and the quotient is wanted as
    a float, as DuckDB gives it (it divides decimals as doubles). -#}
{% macro divide(numerator, denominator) -%}
    {{ return(adapter.dispatch('divide', 'tessera')(numerator, denominator)) }}
{%- endmacro %}

{% macro default__divide(numerator, denominator) -%}
    {{ numerator }} / {{ denominator }}
{%- endmacro %}

{#- Spark divides decimals as decimals and keeps 6 digits of the quotient when the precision runs out
    (a sum of decimal(18, 2) by a count: 44.741667 where DuckDB has 44.74166666666667); the numerator
    as a double divides as DuckDB does. -#}
{% macro spark__divide(numerator, denominator) -%}
    cast({{ numerator }} as double) / {{ denominator }}
{%- endmacro %}
