{#-
    Which customer each identifier belongs to, carried from build to build so that customer_id is
    stable. Never rebuilt from scratch (full_refresh: false): a full refresh keeps every id.
    - A component whose identifiers had one customer_id keeps it.
    - A merge (identifiers of several previous customers in one component) keeps the oldest id.
    - A split: each previous id stays with the part holding most of its identifiers; the other
      parts take another previous id they hold, or a new one.
    - New ids are derived from the component's strongest identifier, so a first build of the same
      data always gives the same ids.
    Identifiers no longer in the graph (or now refused by a guard) stay, marked inactive.
-#}
{{
    config(
        materialized='incremental',
        unique_key=['identifier_type', 'identifier_value'],
        incremental_strategy='delete+insert',
        full_refresh=false,
        on_schema_change='fail',
    )
}}

with

nodes as (
    select * from {{ ref('int_identity__nodes') }}
),

components as (
    select * from {{ ref('int_identity__components') }}
),

current_nodes as (
    select
        nodes.node_id,
        nodes.identifier_type,
        nodes.identifier_value,
        components.component_id
    from nodes
    inner join components
        on nodes.node_id = components.node_id
),

previous as (
    {% if is_incremental() %}
    select
        identifier_type,
        identifier_value,
        customer_id,
        customer_created_at,
        is_active
    from {{ this }}
    {% else %}
        select
            cast(null as {{ dbt.type_string() }}) as identifier_type,
            cast(null as {{ dbt.type_string() }}) as identifier_value,
            cast(null as {{ dbt.type_string() }}) as customer_id,
            cast(null as timestamp) as customer_created_at,
            cast(null as boolean) as is_active
        where 1 = 0
    {% endif %}
),

previous_active as (
    select * from previous
    where is_active
),

id_overlaps as (
    select
        current_nodes.component_id,
        previous_active.customer_id,
        min(previous_active.customer_created_at) as customer_created_at,
        count(*) as shared_identifiers
    from current_nodes
    inner join previous_active
        on
            current_nodes.identifier_type = previous_active.identifier_type
            and current_nodes.identifier_value
            = previous_active.identifier_value
    group by 1, 2
),

{# Each previous id belongs to the component holding most of its identifiers. #}
owners as (
    select
        component_id,
        customer_id,
        customer_created_at
    from (
        select
            *,
            row_number() over (
                partition by customer_id
                order by shared_identifiers desc, component_id asc
            ) as owner_rank
        from id_overlaps
    ) as ranked_owners
    where owner_rank = 1
),

{# Each component keeps the oldest id it owns. #}
kept_ids as (
    select
        component_id,
        customer_id,
        customer_created_at
    from (
        select
            *,
            row_number() over (
                partition by component_id
                order by customer_created_at, customer_id
            ) as age_rank
        from owners
    ) as ranked_ids
    where age_rank = 1
),

{# A component owning no previous id gets a new one, from its strongest identifier (its founder). #}
new_ids as (
    select
        current_nodes.component_id,
        'cus_' || substr(
            {{ dbt.hash("current_nodes.identifier_type || ':' || current_nodes.identifier_value"
                ~ (" || ':' || '" ~ invocation_id ~ "'" if is_incremental() else "")) }},
            1, 16
        ) as customer_id
    from current_nodes
    left join kept_ids
        on current_nodes.component_id = kept_ids.component_id
    where
        current_nodes.node_id = current_nodes.component_id
        and kept_ids.component_id is null
),

assigned as (
    select
        current_nodes.identifier_type,
        current_nodes.identifier_value,
        coalesce(kept_ids.customer_id, new_ids.customer_id) as customer_id,
        previous.customer_id as previous_customer_id,
        coalesce(kept_ids.customer_created_at, {{ dbt.current_timestamp() }})
            as customer_created_at,
        true as is_active
    from current_nodes
    left join kept_ids
        on current_nodes.component_id = kept_ids.component_id
    left join new_ids
        on current_nodes.component_id = new_ids.component_id
    left join previous_active as previous
        on
            current_nodes.identifier_type = previous.identifier_type
            and current_nodes.identifier_value = previous.identifier_value
),

retired as (
    select
        previous.identifier_type,
        previous.identifier_value,
        previous.customer_id,
        previous.customer_id as previous_customer_id,
        previous.customer_created_at,
        false as is_active
    from previous
    left join current_nodes
        on
            previous.identifier_type = current_nodes.identifier_type
            and previous.identifier_value = current_nodes.identifier_value
    where
        current_nodes.node_id is null
        and previous.is_active
),

all_rows as (
    select * from assigned
    union all
    select * from retired
),

final as (
    select
        identifier_type,
        identifier_value,
        customer_id,
        previous_customer_id,
        cast(customer_created_at as timestamp) as customer_created_at,
        is_active,
        '{{ invocation_id }}' as build_id,
        cast({{ dbt.current_timestamp() }} as timestamp) as assigned_at
    from all_rows
)

select * from final
