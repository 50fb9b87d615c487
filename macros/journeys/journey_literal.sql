{#- A journey var value (journeys/<name>.yml, passed as the var `journeys`) as a SQL literal. -#}

{% macro journey_literal(value) -%}
    {%- if value is boolean -%}
        {{ 'true' if value else 'false' }}
    {%- elif value is number -%}
        {{ value }}
    {%- else -%}
        '{{ (value | string) | replace("'", "''") }}'
    {%- endif -%}
{%- endmacro %}
