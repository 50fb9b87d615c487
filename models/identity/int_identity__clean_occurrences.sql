{#-
    The occurrences whose identifier passes the value checks (not junk, valid): what guards look at.
    Record nodes (`person_record`) are left out: each is seen in its own record only, so no guard
    applies to them, and they are no evidence about the identifiers they are seen with.
-#}
with

occurrences as (
    select * from {{ ref('int_identity__identifier_occurrences') }}
),

checked as (
    select * from {{ ref('int_identity__node_checks') }}
),

final as (
    select
        occurrences.source_name,
        occurrences.table_name,
        occurrences.record_id,
        occurrences.identifier_type,
        occurrences.identifier_value,
        checked.priority,
        checked.check_names
    from occurrences
    inner join checked
        on
            occurrences.identifier_type = checked.identifier_type
            and occurrences.identifier_value = checked.identifier_value
    where
        checked.junk_reason is null
        and checked.invalid_reason is null
        and occurrences.identifier_type <> 'person_record'
)

select * from final
