{#-
    The first broken rule of a raw row, as text, or null for a good row. `checks` is a list of
    (condition_sql, reason) pairs, tried in order. Used by every base_ model.
-#}
{% macro quarantine_reason(checks) -%}
    case
        {%- for condition, reason in checks %}
        when {{ condition }} then '{{ reason }}'
        {%- endfor %}
    end
{%- endmacro %}

{#- A timestamp is plausible when it lies within the project's valid window. -#}
{% macro is_plausible_timestamp(expr) -%}
    ({{ expr }} >= cast('{{ var("earliest_valid_timestamp") }}' as timestamp)
        and {{ expr }} < cast('{{ var("latest_valid_timestamp") }}' as timestamp))
{%- endmacro %}

{#- The body of every stg_ model: the rows of its base_ model that broke no rule, without the reason column
    (nor an incremental base model's delivery_key and staging_logic: tessera.incremental_deliveries). -#}
{% macro rows_passing_quarantine(base_relation) -%}
select
    {{ tessera.star(base_relation, except=['quarantine_reason', 'delivery_key', 'staging_logic']) }}
from {{ base_relation }}
where quarantine_reason is null
{%- endmacro %}
