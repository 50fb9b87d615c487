{#- Text of any length, for casts in models. -#}
{% macro type_varchar() -%}
    {{ return(adapter.dispatch('type_varchar', 'tessera')()) }}
{%- endmacro %}

{% macro default__type_varchar() -%}
    varchar
{%- endmacro %}

{#- Spark 4 refuses `varchar` without a length (DATATYPE_MISSING_SIZE); its unbounded text is `string`. -#}
{% macro spark__type_varchar() -%}
    string
{%- endmacro %}
