{#-
    Priority lists (priority_lists in audiences/_audiences.yml: list name -> audiences, highest
    priority first): a customer who is a member of several audiences of one list is assigned to the
    highest-priority one only. The assignment keeps that membership's holdout flags, so a customer held out of their
    top audience is not moved down to the next one (that would contaminate the control group).
-#}
{%- set priority_lists = tessera.analyst_var('audience_priority_lists', {}) -%}
{%- set known = tessera.analyst_var('audiences', []) | map(attribute='name') | list -%}

with

memberships as (
    select * from {{ ref('audience_memberships') }}
),

list_entries as (
    {%- for list_name, audience_names in priority_lists.items() %}
    {%- for audience_name in audience_names %}
    {%- if audience_name not in known %}
    {{ exceptions.raise_compiler_error("priority list " ~ list_name ~ " names unknown audience " ~ audience_name ~ " (no audiences/" ~ audience_name ~ ".yml)") }}
    {%- endif %}
    select
        cast('{{ list_name }}' as {{ dbt.type_string() }}) as priority_list_name,
        cast('{{ audience_name }}' as {{ dbt.type_string() }}) as audience_name,
        {{ loop.index }} as priority_rank
    {% if not loop.last %}union all{% endif %}
    {%- endfor %}
    {% if not loop.last %}union all{% endif %}
    {%- else %}
    select
        cast(null as {{ dbt.type_string() }}) as priority_list_name,
        cast(null as {{ dbt.type_string() }}) as audience_name,
        0 as priority_rank
    where 1 = 0
    {%- endfor %}
),

ranked as (
    select
        list_entries.priority_list_name,
        memberships.customer_id,
        memberships.audience_name,
        list_entries.priority_rank,
        memberships.is_holdout,
        memberships.is_global_holdout,
        row_number() over (
            partition by list_entries.priority_list_name, memberships.customer_id
            order by list_entries.priority_rank
        ) as assignment_rank,
        count(*) over (
            partition by list_entries.priority_list_name, memberships.customer_id
        ) as audiences_qualified
    from memberships
    inner join list_entries
        on memberships.audience_name = list_entries.audience_name
),

final as (
    select
        cast(priority_list_name as {{ tessera.type_varchar() }}) as priority_list_name,
        cast(customer_id as {{ tessera.type_varchar() }}) as customer_id,
        cast(audience_name as {{ tessera.type_varchar() }}) as audience_name,
        cast(priority_rank as integer) as priority_rank,
        cast(audiences_qualified as bigint) as audiences_qualified,
        is_holdout,
        is_global_holdout
    from ranked
    where assignment_rank = 1
)

select * from final
