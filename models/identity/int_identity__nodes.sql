{#-
    The identity graph's nodes, (identifier_type, identifier_value), each with a dense integer id
    and the verdict of every guard. A node that a guard refuses stays visible here and in
    identity_guard_audit, but is never used to join records.
-#}
with

checked as (
    select * from {{ ref('int_identity__node_checks') }}
),

co_occurrences as (
    select * from {{ ref('int_identity__co_occurrences') }}
),

node_names as (
    select * from {{ ref('int_identity__node_names') }}
),

identifier_types as (
    select * from {{ ref('int_identity__identifier_types') }}
),

{# Group size: how many distinct stronger identifiers a node is seen with (a kiosk: hundreds). #}
group_sizes as (
    select
        identifier_type,
        identifier_value,
        count(*) as group_size
    from co_occurrences
    where is_stronger_partner
    group by 1, 2
),

{# The name evidence about an identifier: the names in its own records, and the names of the
    accounts (identifier types with a per-customer limit: CRM, shop, loyalty ids) it is seen with. #}
limited_partners as (
    select
        co_occurrences.identifier_type,
        co_occurrences.identifier_value,
        co_occurrences.partner_type,
        co_occurrences.partner_value
    from co_occurrences
    inner join identifier_types
        on co_occurrences.partner_type = identifier_types.identifier_type
    where identifier_types.max_per_customer is not null
),

name_evidence as (
    select
        identifier_type,
        identifier_value,
        first_name_prefix,
        last_name_prefix
    from node_names
    union
    select
        limited_partners.identifier_type,
        limited_partners.identifier_value,
        node_names.first_name_prefix,
        node_names.last_name_prefix
    from limited_partners
    inner join node_names
        on
            limited_partners.partner_type = node_names.identifier_type
            and limited_partners.partner_value = node_names.identifier_value
),

{# Two names are different people unless their first names match or the names are swapped
    whole: "John Smith" and "Smith John" agree, "Smith John" and "Jane Smith" (who only share the
    surname) and "John Smith" and "Jane Smith" do not. A missing last name does not disagree. #}
name_conflicts as (
    select
        this_name.identifier_type,
        this_name.identifier_value,
        min(
            this_name.first_name_prefix
            || '… and '
            || other_name.first_name_prefix
            || '…'
        ) as conflicting_names
    from name_evidence as this_name
    inner join name_evidence as other_name
        on
            this_name.identifier_type = other_name.identifier_type
            and this_name.identifier_value = other_name.identifier_value
            and this_name.first_name_prefix < other_name.first_name_prefix
    where
        not (
            this_name.first_name_prefix
            = coalesce(other_name.last_name_prefix, '')
            and coalesce(
                this_name.last_name_prefix, other_name.first_name_prefix
            )
            = other_name.first_name_prefix
        )
        and not (
            other_name.first_name_prefix
            = coalesce(this_name.last_name_prefix, '')
            and coalesce(
                other_name.last_name_prefix, this_name.first_name_prefix
            )
            = this_name.first_name_prefix
        )
    group by 1, 2
),

{# Accounts with no name anywhere: a limit breach through them cannot be shown to be one person. #}
unnamed_partners as (
    select distinct
        limited_partners.identifier_type,
        limited_partners.identifier_value
    from limited_partners
    left join node_names
        on
            limited_partners.partner_type = node_names.identifier_type
            and limited_partners.partner_value = node_names.identifier_value
    where node_names.identifier_value is null
),

{# Per-customer limits, one hop: a node seen with more CRM ids (say) than one customer may hold. #}
limit_breaches as (
    select
        co_occurrences.identifier_type,
        co_occurrences.identifier_value,
        min(
            co_occurrences.partner_type
            || ' (seen with '
            || cast(limited_counts.partner_count as {{ dbt.type_string() }})
            || ', a customer holds at most '
            || cast(
                identifier_types.max_per_customer as {{ dbt.type_string() }}
            )
            || ')'
        ) as limit_reason
    from (
        select
            identifier_type,
            identifier_value,
            partner_type,
            count(*) as partner_count
        from co_occurrences
        group by 1, 2, 3
    ) as limited_counts
    inner join identifier_types
        on limited_counts.partner_type = identifier_types.identifier_type
    inner join co_occurrences
        on
            limited_counts.identifier_type = co_occurrences.identifier_type
            and limited_counts.identifier_value
            = co_occurrences.identifier_value
            and limited_counts.partner_type = co_occurrences.partner_type
    where limited_counts.partner_count > identifier_types.max_per_customer
    group by 1, 2
),

{# A limit breach is allowed only when every account involved is named, and all name one person:
    those are one person's duplicate records (a re-entered lead, a second shop account). #}
refused_limit_breaches as (
    select limit_breaches.*
    from limit_breaches
    left join unnamed_partners
        on
            limit_breaches.identifier_type = unnamed_partners.identifier_type
            and limit_breaches.identifier_value
            = unnamed_partners.identifier_value
    left join name_conflicts
        on
            limit_breaches.identifier_type = name_conflicts.identifier_type
            and limit_breaches.identifier_value
            = name_conflicts.identifier_value
    where
        unnamed_partners.identifier_value is not null
        or name_conflicts.identifier_value is not null
),

verdicts as (
    select
        row_number()
            over (
                order by
                    checked.priority,
                    checked.identifier_type,
                    checked.identifier_value
            )
            as node_id,
        checked.identifier_type,
        checked.identifier_value,
        checked.priority,
        checked.record_count,
        checked.source_count,
        coalesce(group_sizes.group_size, 0) as group_size,
        checked.junk_reason,
        checked.invalid_reason,
        case
            when group_sizes.group_size > checked.max_group_size
                then
                    'seen with '
                    || cast(group_sizes.group_size as {{ dbt.type_string() }})
                    || ' distinct stronger identifiers; at most '
                    || cast(checked.max_group_size as {{ dbt.type_string() }})
                    || ' for '
                    || checked.identifier_type
        end as group_size_reason,
        refused_limit_breaches.limit_reason,
        case
            when
                checked.check_names
                and name_conflicts.conflicting_names is not null
                then
                    'records name different people: '
                    || name_conflicts.conflicting_names
        end as name_conflict_reason,
        checked.first_seen_at,
        checked.last_seen_at
    from checked
    left join group_sizes
        on
            checked.identifier_type = group_sizes.identifier_type
            and checked.identifier_value = group_sizes.identifier_value
    left join refused_limit_breaches
        on
            checked.identifier_type = refused_limit_breaches.identifier_type
            and checked.identifier_value
            = refused_limit_breaches.identifier_value
    left join name_conflicts
        on
            checked.identifier_type = name_conflicts.identifier_type
            and checked.identifier_value = name_conflicts.identifier_value
),

final as (
    select
        *,
        coalesce(
            junk_reason,
            invalid_reason,
            group_size_reason,
            limit_reason,
            name_conflict_reason
        )
            as refusal_reason,
        coalesce(
            junk_reason,
            invalid_reason,
            group_size_reason,
            limit_reason,
            name_conflict_reason
        ) is null
            as is_linkable
    from verdicts
)

select * from final
