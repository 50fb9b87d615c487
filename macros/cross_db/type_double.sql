{#- The 8-byte floating-point type, for casts in models. -#}
{% macro type_double() -%}
    {{ return(adapter.dispatch('type_double', 'tessera')()) }}
{%- endmacro %}

{% macro default__type_double() -%}
    double precision
{%- endmacro %}

{#- Spark's parser knows `double`, not the standard `double precision`. -#}
{% macro spark__type_double() -%}
    double
{%- endmacro %}
