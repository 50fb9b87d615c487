{#-
    The current members of every audience, with their holdout assignment. The holdout is a
    deterministic hash of (audience, customer): the same customer stays in (or out of) an
    audience's control group on every build. The global holdout (holdout_global_percent in
    audiences/_audiences.yml) is
    excluded from every activation.
-#}
{%- set audiences = tessera.analyst_var('audiences', []) -%}

with

{% for audience in audiences %}
{{ audience.name }} as (
    select customer_id, is_member from {{ ref('audience_' ~ audience.name) }}
),
{% endfor %}

members as (
    {%- for audience in audiences %}
    select '{{ audience.name }}' as audience_name, customer_id, {{ audience.get('holdout_percent', 0) }} as holdout_percent
    from {{ audience.name }}
    where is_member
    {% if not loop.last %}union all{% endif %}
    {%- endfor %}
),

final as (
    select
        cast(audience_name as {{ tessera.type_varchar() }}) as audience_name,
        cast(customer_id as {{ tessera.type_varchar() }}) as customer_id,
        {{ tessera.hash_bucket("audience_name || ':' || customer_id") }} < holdout_percent as is_holdout,
        {{ tessera.hash_bucket("'global:' || customer_id") }} < {{ tessera.analyst_var('holdout_global_percent', 0) }} as is_global_holdout
    from members
)

select * from final
