{#-
    One row per audience per build: members, holdouts, what activation may reach, and how many
    entered and exited in that build. Append-only and kept across full refreshes, like the
    membership history, so sizes can be charted over time.
-#}
{{
    config(
        materialized='incremental',
        incremental_strategy='append',
        full_refresh=false,
        on_schema_change='append_new_columns',
    )
}}
{%- set audiences = tessera.analyst_var('audiences', []) -%}

with

memberships as (
    select * from {{ ref('audience_memberships') }}
),

history as (
    select * from {{ ref('audience_membership_history') }}
),

audience_names as (
    {%- for audience in audiences %}
    select cast('{{ audience.name }}' as {{ dbt.type_string() }}) as audience_name
    {% if not loop.last %}union all{% endif %}
    {%- endfor %}
),

sizes as (
    select
        audience_name,
        count(*) as member_count,
        sum(case when is_holdout then 1 else 0 end) as holdout_count,
        sum(case when is_global_holdout then 1 else 0 end) as global_holdout_count,
        sum(case when not is_holdout and not is_global_holdout then 1 else 0 end) as activatable_count
    from memberships
    group by 1
),

changes as (
    select
        audience_name,
        sum(case when change_kind = 'entered' then 1 else 0 end) as entered_count,
        sum(case when change_kind = 'exited' then 1 else 0 end) as exited_count
    from history
    where build_id = '{{ invocation_id }}'
    group by 1
),

final as (
    select
        audience_names.audience_name,
        cast('{{ invocation_id }}' as {{ dbt.type_string() }}) as build_id,
        cast(coalesce(sizes.member_count, 0) as bigint) as member_count,
        cast(coalesce(sizes.holdout_count, 0) as bigint) as holdout_count,
        cast(coalesce(sizes.global_holdout_count, 0) as bigint) as global_holdout_count,
        cast(coalesce(sizes.activatable_count, 0) as bigint) as activatable_count,
        cast(coalesce(changes.entered_count, 0) as bigint) as entered_count,
        cast(coalesce(changes.exited_count, 0) as bigint) as exited_count,
        cast({{ dbt.current_timestamp() }} as timestamp) as built_at
    from audience_names
    left join sizes
        on audience_names.audience_name = sizes.audience_name
    left join changes
        on audience_names.audience_name = changes.audience_name
)

select * from final
