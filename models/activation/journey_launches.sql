{#-
    When each journey (journeys/<name>.yml, the var `journeys`) was launched: its first build, one row
    per journey, carried from build to build (incremental, full_refresh false, as
    identity_match_model_store), so a later build or a full refresh never moves a launch. A journey
    whose entry has include_existing false enters only the members whose latest entry into its
    audience is at or after this time (journey_members). audience_membership_history builds after
    this model (its depends_on), so the entries a launch build records are stamped after the launch.
-#}
{{
    config(
        materialized='incremental',
        incremental_strategy='append',
        full_refresh=false,
        on_schema_change='fail',
    )
}}
{%- set journeys = var('journeys', []) %}
{%- set text = tessera.type_varchar() %}

with

declared as (
    {%- for journey in journeys %}
    select {{ tessera.journey_literal(journey.name) }} as journey_name
    {%- if not loop.last %}
    union all
    {%- endif %}
    {%- else %}
    select cast(null as {{ text }}) as journey_name
    where 1 = 0
    {%- endfor %}
),

{% if is_incremental() %}
launched as (
    select journey_name from {{ this }}
),
{% endif %}

final as (
    select
        cast(declared.journey_name as {{ text }}) as journey_name,
        cast('{{ invocation_id }}' as {{ text }}) as launch_build_id,
        cast({{ tessera.utc_now() }} as timestamp) as launched_at
    from declared
    {%- if is_incremental() %}
    where not exists (
        select 1 from launched
        where launched.journey_name = declared.journey_name
    )
    {%- endif %}
)

select * from final
