{#-
    Lift per audience with a holdout and per outcome (var audience_lift: lift_outcomes in
    audiences/_audiences.yml, or an audience file's own `lift:`). The cohort is every customer who
    entered the audience, from the first entry on, once their window has ended: `within_days` after
    entering. Treatment is the members activation may reach, control the audience's holdout; the
    global holdout is in neither. The outcome per member is 1 or 0 for `order` and `store_visit`,
    and the orders' total for `revenue`. Uplift is treatment mean minus control mean, with a 95%
    interval: for the 0/1 outcomes (`order`, `store_visit`) Newcombe's hybrid score interval, built
    from each arm's Wilson score interval (Newcombe 1998, method 10), which keeps its coverage on
    small arms and on rates near 0 or 1; for `revenue` the normal approximation with Welch's standard
    error. The normal approximation on a 0/1 outcome covered the planted effect in only 14 of 18
    seeds of `tessera bench lift`, whose effect audience has 4-14 control members: an arm whose
    members all agree has a sample variance of 0, and the interval shrinks to the other arm's noise.
    Windows are matured as of now, or as of var audience_lift_as_of (a timestamp) when it is set:
    `tessera bench lift` measures a planted response "N days after the send" without waiting N days.
    `is_significant` also needs both arms to hold at least var audience_lift_min_arm_size members
    (20): with two or three control members whose outcomes agree, the sample variance is 0 and the
    interval shrinks to the treatment's noise alone (the bench's null audience was called significant
    that way).
-#}
{%- set plan = tessera.analyst_var('audience_lift', []) -%}
{%- set as_of = var('audience_lift_as_of', none) -%}
{%- if as_of and not modules.re.fullmatch('[0-9]{4}-[0-9]{2}-[0-9]{2}([ T][0-9:.]+)?', as_of | string) -%}
    {{ exceptions.raise_compiler_error(
        "audience_lift_as_of must be a timestamp like 2026-01-31 12:00:00, not " ~ (as_of | string)[:40]) }}
{%- endif -%}
{%- set min_arm_size = var('audience_lift_min_arm_size', 20) | int -%}

with

history as (
    select * from {{ ref('audience_membership_history') }}
),

orders as (
    select * from {{ ref('orders') }}
),

outcomes as (
    {%- for audience in plan %}{% for outcome in audience.outcomes %}
    select
        cast('{{ audience.audience_name }}' as {{ dbt.type_string() }}) as audience_name,
        cast('{{ outcome.name }}' as {{ dbt.type_string() }}) as outcome_name,
        cast('{{ outcome.outcome }}' as {{ dbt.type_string() }}) as outcome_kind,
        {{ outcome.within_days | int }} as within_days,
        {{ audience.holdout_percent }} as holdout_percent
    union all
    {%- endfor %}{% endfor %}
    select
        cast(null as {{ dbt.type_string() }}) as audience_name,
        cast(null as {{ dbt.type_string() }}) as outcome_name,
        cast(null as {{ dbt.type_string() }}) as outcome_kind,
        0 as within_days,
        0 as holdout_percent
    where 1 = 0
),

entries as (
    select
        audience_name,
        customer_id,
        min(changed_at) as entered_at
    from history
    where change_kind = 'entered'
    group by 1, 2
),

cohort as (
    select
        entries.audience_name,
        entries.customer_id,
        entries.entered_at,
        outcomes.outcome_name,
        outcomes.outcome_kind,
        outcomes.within_days,
        {{ dbt.dateadd('day', 'outcomes.within_days', 'entries.entered_at') }} as window_ends_at,
        {{ tessera.hash_bucket("entries.audience_name || ':' || entries.customer_id") }}
        < outcomes.holdout_percent as is_holdout,
        {{ tessera.hash_bucket("'global:' || entries.customer_id") }}
        < {{ tessera.analyst_var('holdout_global_percent', 0) }} as is_global_holdout
    from entries
    inner join outcomes
        on entries.audience_name = outcomes.audience_name
),

matured as (
    select *
    from cohort
    where
        window_ends_at <= {% if as_of %}cast('{{ as_of }}' as timestamp){% else %}{{ tessera.utc_now() }}{% endif %}
        and not is_global_holdout
),

per_member as (
    select
        matured.audience_name,
        matured.outcome_name,
        matured.customer_id,
        matured.is_holdout,
        case
            when matured.outcome_kind = 'revenue'
                then coalesce(sum(orders.total_amount), 0)
            when matured.outcome_kind = 'store_visit'
                then max(case when orders.order_channel = 'store' then 1 else 0 end)
            else max(case when orders.order_id is not null then 1 else 0 end)
        end as outcome_value
    from matured
    left join orders
        on
            matured.customer_id = orders.customer_id
            and orders.ordered_at > matured.entered_at
            and orders.ordered_at <= matured.window_ends_at
    group by
        matured.audience_name,
        matured.outcome_name,
        matured.customer_id,
        matured.is_holdout,
        matured.outcome_kind
),

arms as (
    select
        audience_name,
        outcome_name,
        count(case when not is_holdout then 1 end) as treatment_count,
        count(case when is_holdout then 1 end) as control_count,
        avg(case when not is_holdout then cast(outcome_value as {{ tessera.type_double() }}) end) as treatment_mean,
        avg(case when is_holdout then cast(outcome_value as {{ tessera.type_double() }}) end) as control_mean,
        var_samp(case when not is_holdout then cast(outcome_value as {{ tessera.type_double() }}) end)
            as treatment_variance,
        var_samp(case when is_holdout then cast(outcome_value as {{ tessera.type_double() }}) end) as control_variance
    from per_member
    group by 1, 2
),

estimated as (
    select
        outcomes.audience_name,
        outcomes.outcome_name,
        outcomes.outcome_kind,
        outcomes.within_days,
        coalesce(arms.treatment_count, 0) as treatment_count,
        coalesce(arms.control_count, 0) as control_count,
        arms.treatment_mean,
        arms.control_mean,
        arms.treatment_mean - arms.control_mean as uplift,
        sqrt(
            arms.treatment_variance / nullif(arms.treatment_count, 0)
            + arms.control_variance / nullif(arms.control_count, 0)
        ) as standard_error,
        nullif(arms.treatment_count, 0) as n_t,
        nullif(arms.control_count, 0) as n_c
    from outcomes
    left join arms
        on
            outcomes.audience_name = arms.audience_name
            and outcomes.outcome_name = arms.outcome_name
),

wilson as (
    -- Wilson score interval of each arm's rate (0/1 outcomes), z = 1.96:
    -- centre (p + z^2/2n) / (1 + z^2/n),
    -- half-width z sqrt(p(1 - p)/n + z^2/4n^2) / (1 + z^2/n).
    select
        *,
        (treatment_mean + 1.9208 / n_t) / (1 + 3.8416 / n_t) as t_centre,
        1.96 * sqrt(
            treatment_mean * (1 - treatment_mean) / n_t
            + 0.9604 / (n_t * n_t)
        ) / (1 + 3.8416 / n_t) as t_half,
        (control_mean + 1.9208 / n_c) / (1 + 3.8416 / n_c) as c_centre,
        1.96 * sqrt(
            control_mean * (1 - control_mean) / n_c
            + 0.9604 / (n_c * n_c)
        ) / (1 + 3.8416 / n_c) as c_half
    from estimated
),

bounds as (
    -- Newcombe's hybrid score interval of the difference for the rates.
    select
        *,
        case
            when outcome_kind in ('order', 'store_visit')
                then uplift - sqrt(
                    power(treatment_mean - (t_centre - t_half), 2)
                    + power(c_centre + c_half - control_mean, 2)
                )
            else uplift - 1.96 * standard_error
        end as ci_low,
        case
            when outcome_kind in ('order', 'store_visit')
                then uplift + sqrt(
                    power(t_centre + t_half - treatment_mean, 2)
                    + power(control_mean - (c_centre - c_half), 2)
                )
            else uplift + 1.96 * standard_error
        end as ci_high
    from wilson
),

final as (
    select
        cast(audience_name as {{ tessera.type_varchar() }}) as audience_name,
        cast(outcome_name as {{ tessera.type_varchar() }}) as outcome_name,
        cast(outcome_kind as {{ tessera.type_varchar() }}) as outcome_kind,
        cast(within_days as integer) as within_days,
        cast(treatment_count as bigint) as treatment_count,
        cast(control_count as bigint) as control_count,
        cast(treatment_mean as {{ tessera.type_double() }}) as treatment_mean,
        cast(control_mean as {{ tessera.type_double() }}) as control_mean,
        cast(uplift as {{ tessera.type_double() }}) as uplift,
        cast(uplift / nullif(control_mean, 0) as {{ tessera.type_double() }}) as relative_uplift,
        -- Rounded to 6 decimals.
        cast(
            cast(ci_low as {{ dbt.type_numeric() }}) as {{ tessera.type_double() }}
        ) as uplift_ci_low,
        cast(
            cast(ci_high as {{ dbt.type_numeric() }}) as {{ tessera.type_double() }}
        ) as uplift_ci_high,
        coalesce(
            treatment_count >= {{ min_arm_size }}
            and control_count >= {{ min_arm_size }}
            and (ci_low > 0 or ci_high < 0),
            false
        ) as is_significant,
        {{ tessera.utc_now() }} as measured_at
    from bounds
)

select * from final
