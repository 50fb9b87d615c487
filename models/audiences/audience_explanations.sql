{#-
    Why is a customer in (or not in) an audience: every audience's per-condition booleans, one row
    per audience, customer and condition (members and non-members alike). The boolean columns of
    each audience_<name> model are its conditions, whether the audience is SQL or a compiled rule.
    A view: it is a re-shaping of the audience tables, cheap to read for one customer.
-#}
{{ config(materialized='view') }}
{%- set audiences = tessera.analyst_var('audiences', []) -%}

with

{% for audience in audiences %}
{{ audience.name }} as (
    select * from {{ ref('audience_' ~ audience.name) }}
),
{% endfor %}

conditions as (
    {%- set selects = [] %}
    {%- if execute %}
    {%- for audience in audiences %}
    {%- for column in adapter.get_columns_in_relation(ref('audience_' ~ audience.name)) %}
    {%- if column.name | lower not in ('customer_id', 'is_member') and column.dtype | lower in ('boolean', 'bool') %}
    {%- do selects.append(
        "select cast('" ~ audience.name ~ "' as " ~ dbt.type_string() ~ ") as audience_name, customer_id, "
        ~ "cast('" ~ column.name | lower ~ "' as " ~ dbt.type_string() ~ ") as condition_name, "
        ~ loop.index ~ " as condition_position, "
        ~ column.name ~ " as condition_value, is_member from " ~ audience.name
    ) %}
    {%- endif %}
    {%- endfor %}
    {%- endfor %}
    {%- endif %}
    {%- if selects %}
    {{ selects | join('\n    union all\n    ') }}
    {%- else %}
    select
        cast(null as {{ dbt.type_string() }}) as audience_name,
        cast(null as {{ dbt.type_string() }}) as customer_id,
        cast(null as {{ dbt.type_string() }}) as condition_name,
        0 as condition_position,
        cast(null as boolean) as condition_value,
        cast(null as boolean) as is_member
    where 1 = 0
    {%- endif %}
),

final as (
    select
        cast(audience_name as {{ tessera.type_varchar() }}) as audience_name,
        cast(customer_id as {{ tessera.type_varchar() }}) as customer_id,
        cast(condition_name as {{ tessera.type_varchar() }}) as condition_name,
        cast(condition_position as integer) as condition_position,
        condition_value,
        is_member
    from conditions
)

select * from final
