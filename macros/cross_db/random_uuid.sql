{#- A random uuid, per row, as the warehouse makes it (the masking salt, macros/privacy/masking_warehouse.sql). -#}
{% macro random_uuid() -%}
    {{ return(adapter.dispatch('random_uuid', 'tessera')()) }}
{%- endmacro %}

{% macro default__random_uuid() -%}
    {{ return('gen_random_uuid()') }}
{%- endmacro %}

{#- Spark has no gen_random_uuid(); its uuid() makes a random (version 4) uuid as text. -#}
{% macro spark__random_uuid() -%}
    {{ return('uuid()') }}
{%- endmacro %}
