{#-
    Journey state (journeys/<name>.yml, handed to dbt as the var `journeys`): one row per journey and
    customer who entered it, for the customer's latest entry into the entry audience. From the
    audience membership history it computes when the member entered, when each step is reached (the
    waits add up from the entry), whether each condition held when its step was reached, the step
    reached now, and whether the member is ready for the sync step. A member exits when they leave the
    entry audience (left_audience) or a condition fails (condition_failed). Members of the entry
    audience's holdout or of the global holdout pass through the steps like everyone else, for lift,
    but are never ready: they stop at the sync step as held_out with the reason.
    Audience conditions are read from the history as of the time their step is reached; trait
    conditions compare the current customer_traits value (traits keep no history).
    A journey whose entry has include_existing false enters only the members whose latest entry is at
    or after its launch (journey_launches: its first build); an earlier entry predates the journey.
-#}
{%- set journeys = var('journeys', []) -%}
{%- set now = tessera.utc_now() -%}

with

history as (
    select * from {{ ref('audience_membership_history') }}
),

memberships as (
    select * from {{ ref('audience_memberships') }}
),

traits as (
    select * from {{ ref('customer_traits') }}
),

launches as (
    select * from {{ ref('journey_launches') }}
),

latest_changes as (
    select
        audience_name,
        customer_id,
        max(
            case when change_kind = 'entered' then changed_at end
        ) as last_entered_at,
        max(
            case when change_kind = 'exited' then changed_at end
        ) as last_exited_at
    from history
    group by 1, 2
),

{% for journey in journeys -%}
{%- set j = loop.index -%}
{%- set n = journey.steps | length %}
journey_{{ j }}_entries as (
    select
        latest_changes.customer_id,
        memberships.is_holdout,
        memberships.is_global_holdout,
        latest_changes.last_entered_at as entered_at,
        case
            when latest_changes.last_exited_at > latest_changes.last_entered_at
                then latest_changes.last_exited_at
        end as left_audience_at
    from latest_changes
    left join memberships
        on latest_changes.audience_name = memberships.audience_name
        and latest_changes.customer_id = memberships.customer_id
    where latest_changes.audience_name = {{ tessera.journey_literal(journey.entry_audience) }}
        and latest_changes.last_entered_at is not null
        {%- if not journey.include_existing %}
        and exists (
            select 1 from launches
            where launches.journey_name = {{ tessera.journey_literal(journey.name) }}
                and latest_changes.last_entered_at >= launches.launched_at
        )
        {%- endif %}
),

journey_{{ j }}_timed as (
    select
        journey_{{ j }}_entries.*,
        {%- set ns = namespace(minutes=0) %}
        {%- for step in journey.steps %}
        {%- if step.kind == 'wait' %}{% set ns.minutes = ns.minutes + (step.minutes | int) %}{% endif %}
        {{ dbt.dateadd('minute', ns.minutes, 'entered_at') }} as step_{{ loop.index }}_at{{ ',' if not loop.last }}
        {%- endfor %}
    from journey_{{ j }}_entries
),
{% for step in journey.steps %}
{%- set i = loop.index %}
{%- if step.kind == 'condition' and (step.in_audience or step.not_in_audience) %}
journey_{{ j }}_step_{{ i }}_membership as (
    select
        journey_{{ j }}_timed.customer_id,
        max(case when history.change_kind = 'entered' then history.changed_at end) as last_entered_at,
        max(case when history.change_kind = 'exited' then history.changed_at end) as last_exited_at
    from journey_{{ j }}_timed
    inner join history
        on journey_{{ j }}_timed.customer_id = history.customer_id
        and history.audience_name = {{ tessera.journey_literal(step.in_audience or step.not_in_audience) }}
        and history.changed_at <= journey_{{ j }}_timed.step_{{ i }}_at
    group by 1
),
{%- endif %}
{% endfor %}
journey_{{ j }}_checked as (
    select
        journey_{{ j }}_timed.*,
        {%- for step in journey.steps %}
        {%- set i = loop.index %}
        {%- if step.kind == 'condition' %}
        {%- if step.in_audience or step.not_in_audience %}
        {{ 'not ' if step.not_in_audience }}coalesce(
            step_{{ i }}.last_entered_at is not null
            and (step_{{ i }}.last_exited_at is null or step_{{ i }}.last_entered_at > step_{{ i }}.last_exited_at),
            false
        ) as step_{{ i }}_held,
        {%- else %}
        coalesce({{ tessera.journey_trait_test(step, 'traits', 'journey_' ~ j ~ '_timed.entered_at') }}, false)
            as step_{{ i }}_held,
        {%- endif %}
        {%- else %}
        true as step_{{ i }}_held,
        {%- endif %}
        {%- endfor %}
        {{ now }} as evaluated_at
    from journey_{{ j }}_timed
    left join traits
        on journey_{{ j }}_timed.customer_id = traits.customer_id
    {%- for step in journey.steps %}
    {%- if step.kind == 'condition' and (step.in_audience or step.not_in_audience) %}
    left join journey_{{ j }}_step_{{ loop.index }}_membership as step_{{ loop.index }}
        on journey_{{ j }}_timed.customer_id = step_{{ loop.index }}.customer_id
    {%- endif %}
    {%- endfor %}
),

journey_{{ j }}_progress as (
    select
        journey_{{ j }}_checked.*,
        -- The first step not passed: a wait not elapsed or a condition not held (or not yet reached).
        case
            {%- for step in journey.steps %}
            {%- if step.kind != 'sync' %}
            when not (step_{{ loop.index }}_at <= evaluated_at and step_{{ loop.index }}_held) then {{ loop.index }}
            {%- endif %}
            {%- endfor %}
            else {{ n }}
        end as step_reached,
        case
            {%- for step in journey.steps %}
            {%- set i = loop.index %}
            {%- if step.kind != 'sync' %}
            when not (step_{{ i }}_at <= evaluated_at and step_{{ i }}_held)
                then {{ 'step_' ~ i ~ '_at <= evaluated_at' if step.kind == 'condition' else 'false' }}
            {%- endif %}
            {%- endfor %}
            else false
        end as has_failed_condition
    from journey_{{ j }}_checked
),

journey_{{ j }}_final as (
    select
        {{ tessera.journey_literal(journey.name) }} as journey_name,
        customer_id,
        {{ tessera.journey_literal(journey.entry_audience) }} as entry_audience_name,
        case step_reached
            {%- for step in journey.steps %}
            when {{ loop.index }} then '{{ step.kind }}'
            {%- endfor %}
        end as current_step,
        case
            when left_audience_at is not null or has_failed_condition then 'exited'
            when step_reached < {{ n }} then 'waiting'
            when is_global_holdout or is_holdout then 'held_out'
            else 'ready'
        end as status,
        case
            when left_audience_at is not null then 'left_audience'
            when has_failed_condition then 'condition_failed'
            when step_reached < {{ n }} then null
            when is_global_holdout then 'global_holdout'
            when is_holdout then 'holdout'
        end as exit_reason,
        step_reached,
        is_holdout,
        is_global_holdout,
        left_audience_at is null as is_in_entry_audience,
        case
            when has_failed_condition then false
            when step_reached = {{ n }} then true
        end as conditions_held,
        (
            left_audience_at is null
            and not has_failed_condition
            and step_reached = {{ n }}
            and not coalesce(is_global_holdout or is_holdout, true)
        ) as is_ready,
        entered_at,
        step_{{ n }}_at as wait_elapses_at,
        case
            when left_audience_at is not null then left_audience_at
            {%- for step in journey.steps %}
            {%- if step.kind == 'condition' %}
            when has_failed_condition and step_reached = {{ loop.index }}
                then step_{{ loop.index }}_at
            {%- endif %}
            {%- endfor %}
        end as exited_at,
        evaluated_at
    from journey_{{ j }}_progress
),

{% endfor -%}
all_journeys as (
    {%- for journey in journeys %}
    select * from journey_{{ loop.index }}_final
    {%- if not loop.last %}
    union all
    {%- endif %}
    {%- else %}
        select
            cast(null as {{ tessera.type_varchar() }}) as journey_name,
            cast(null as {{ tessera.type_varchar() }}) as customer_id,
            cast(null as {{ tessera.type_varchar() }}) as entry_audience_name,
            cast(null as {{ tessera.type_varchar() }}) as current_step,
            cast(null as {{ tessera.type_varchar() }}) as status,
            cast(null as {{ tessera.type_varchar() }}) as exit_reason,
            cast(null as integer) as step_reached,
            cast(null as boolean) as is_holdout,
            cast(null as boolean) as is_global_holdout,
            cast(null as boolean) as is_in_entry_audience,
            cast(null as boolean) as conditions_held,
            cast(null as boolean) as is_ready,
            cast(null as timestamp) as entered_at,
            cast(null as timestamp) as wait_elapses_at,
            cast(null as timestamp) as exited_at,
            cast(null as timestamp) as evaluated_at
        where 1 = 0
    {%- endfor %}
),

final as (
    select
        cast(journey_name as {{ tessera.type_varchar() }}) as journey_name,
        cast(customer_id as {{ tessera.type_varchar() }}) as customer_id,
        cast(entry_audience_name as {{ tessera.type_varchar() }}) as entry_audience_name,
        cast(current_step as {{ tessera.type_varchar() }}) as current_step,
        cast(status as {{ tessera.type_varchar() }}) as status,
        cast(exit_reason as {{ tessera.type_varchar() }}) as exit_reason,
        cast(step_reached as integer) as step_reached,
        cast(is_holdout as boolean) as is_holdout,
        cast(is_global_holdout as boolean) as is_global_holdout,
        cast(is_in_entry_audience as boolean) as is_in_entry_audience,
        cast(conditions_held as boolean) as conditions_held,
        cast(is_ready as boolean) as is_ready,
        cast(entered_at as timestamp) as entered_at,
        cast(wait_elapses_at as timestamp) as wait_elapses_at,
        cast(exited_at as timestamp) as exited_at,
        cast(evaluated_at as timestamp) as evaluated_at
    from all_journeys
)

select * from final
