{#- The columns of `from` except those in `except`, comma separated (dbt_utils.star, which we cannot install). -#}
{% macro star(from, except=[]) -%}
    {%- if not execute -%}
        {{ return('*') }}
    {%- endif -%}
    {%- set excluded = except | map('lower') | list -%}
    {%- set names = [] -%}
    {%- for column in adapter.get_columns_in_relation(from) -%}
        {%- if column.name | lower not in excluded -%}
            {%- do names.append(adapter.quote(column.name)) -%}
        {%- endif -%}
    {%- endfor -%}
    {{ return(names | join(',\n    ')) }}
{%- endmacro %}
