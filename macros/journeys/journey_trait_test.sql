{#- Journey helpers (models/activation/journey_members.sql): the journeys reach dbt as the var
    `journeys`, validated in Python (orchestration/journeys/config.py); these macros check again what
    they render, so a hand-written --vars cannot put SQL into the model. -#}

{% macro journey_trait_test(condition, traits_alias, entered_at) -%}
    {%- if not modules.re.match('^[a-z][a-z0-9_]{0,62}$', condition.trait | string) -%}
        {{ exceptions.raise_compiler_error("journey trait name is not a plain column name") }}
    {%- endif -%}
    {%- set column = traits_alias ~ '.' ~ condition.trait -%}
    {%- set operators = {'=': '=', '!=': '<>', '<': '<', '<=': '<=', '>': '>', '>=': '>='} -%}
    {%- if condition.op in operators -%}
        {#- A plain string literal takes the trait's type (a timestamp trait compares as a timestamp). -#}
        {{ column }} {{ operators[condition.op] }} {{ tessera.journey_literal(condition.value) }}
    {%- elif condition.op == 'is_null' -%}
        {{ column }} is null
    {%- elif condition.op == 'is_not_null' -%}
        {{ column }} is not null
    {%- elif condition.op == 'before_entry' -%}
        ({{ column }} is null or {{ column }} < {{ entered_at }})
    {%- elif condition.op == 'since_entry' -%}
        {{ column }} >= {{ entered_at }}
    {%- else -%}
        {{ exceptions.raise_compiler_error("journey condition op is not one of = != < <= > >= is_null is_not_null before_entry since_entry") }}
    {%- endif -%}
{%- endmacro %}
