{#-
    Every reviewer decision as written, with a quarantine reason for rows that cannot be applied.
    The decisions file is optional (there is none until someone decides): the source is declared
    (_review__sources.yml, for lineage) and read only when its table exists; otherwise no rows.
-#}
{%- set decisions = source('review', 'identity_review_decisions') -%}
{%- set exists = execute and load_relation(decisions) is not none -%}
with

source as (
    {% if exists -%}
    select * from {{ decisions }}
    {%- else -%}
        {#- No decision has been written yet: the same columns, no rows. -#}
        select
            cast(null as {{ dbt.type_string() }}) as decision_id,
            cast(null as {{ dbt.type_string() }}) as pair_id,
            cast(null as {{ dbt.type_string() }}) as unique_id_l,
            cast(null as {{ dbt.type_string() }}) as unique_id_r,
            cast(null as {{ dbt.type_string() }}) as decision,
            cast(null as {{ dbt.type_string() }}) as decided_by,
            cast(null as timestamp) as decided_at,
            cast(null as {{ dbt.type_string() }}) as note,
            cast(null as timestamp) as _loaded_at
        where 1 = 0
    {%- endif %}
),

renamed as (
    select
        cast(decision_id as {{ dbt.type_string() }}) as decision_id,
        cast(pair_id as {{ dbt.type_string() }}) as pair_id,
        cast(unique_id_l as {{ dbt.type_string() }}) as unique_id_l,
        cast(unique_id_r as {{ dbt.type_string() }}) as unique_id_r,
        lower(trim(cast(decision as {{ dbt.type_string() }}))) as decision,
        cast(decided_by as {{ dbt.type_string() }}) as decided_by,
        cast(note as {{ dbt.type_string() }}) as note,
        cast(decided_at as timestamp) as decided_at,
        cast(_loaded_at as timestamp) as loaded_at
    from source
),

final as (
    select
        *,
        {{ tessera.quarantine_reason([
            ("decision_id is null", "missing primary key"),
            ("pair_id is null or unique_id_l is null or unique_id_r is null", "missing pair or record ids"),
            ("unique_id_l = unique_id_r", "a record paired with itself"),
            ("decision is null or decision not in ('accept', 'reject')", "decision is not accept or reject"),
            ("decided_at is null", "missing decided_at"),
        ]) }} as quarantine_reason
    from renamed
)

select * from final
