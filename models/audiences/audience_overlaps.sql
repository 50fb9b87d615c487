{#-
    The overlap matrix of the current audiences: for every ordered pair (a, b), how many members of
    a are also in b, and that as a share of a (the diagonal is each audience's size). Holdouts count
    as members: they qualified.
-#}
{%- set audiences = tessera.analyst_var('audiences', []) -%}

with

memberships as (
    select * from {{ ref('audience_memberships') }}
),

audience_names as (
    {%- for audience in audiences %}
    select cast('{{ audience.name }}' as {{ dbt.type_string() }}) as audience_name
    {% if not loop.last %}union all{% endif %}
    {%- endfor %}
),

sizes as (
    select audience_name, count(*) as member_count
    from memberships
    group by 1
),

pairs as (
    select
        audience_a.audience_name as audience_a,
        audience_b.audience_name as audience_b,
        count(*) as overlap_count
    from memberships as audience_a
    inner join memberships as audience_b
        on audience_a.customer_id = audience_b.customer_id
    group by 1, 2
),

final as (
    select
        names_a.audience_name as audience_a,
        names_b.audience_name as audience_b,
        cast(coalesce(sizes.member_count, 0) as bigint) as audience_a_count,
        cast(coalesce(pairs.overlap_count, 0) as bigint) as overlap_count,
        cast(
            case when coalesce(sizes.member_count, 0) = 0 then 0.0
            else {{ tessera.divide('1.0 * coalesce(pairs.overlap_count, 0)', 'sizes.member_count') }} end
            as {{ tessera.type_double() }}
        ) as share_of_a
    from audience_names as names_a
    cross join audience_names as names_b
    left join sizes
        on names_a.audience_name = sizes.audience_name
    left join pairs
        on names_a.audience_name = pairs.audience_a
        and names_b.audience_name = pairs.audience_b
)

select * from final
