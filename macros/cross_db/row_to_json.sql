{#- The whole row of table alias `alias` as JSON text, to keep a quarantined row as it arrived. -#}
{% macro row_to_json(alias) -%}
    {{ return(adapter.dispatch('row_to_json', 'tessera')(alias)) }}
{%- endmacro %}

{% macro default__row_to_json(alias) -%}
    cast(to_json({{ alias }}) as {{ dbt.type_string() }})
{%- endmacro %}

{% macro postgres__row_to_json(alias) -%}
    cast(row_to_json({{ alias }}) as text)
{%- endmacro %}

{#- Spark's to_json takes a struct, not a table alias. -#}
{% macro spark__row_to_json(alias) -%}
    cast(to_json(struct({{ alias }}.*)) as string)
{%- endmacro %}
