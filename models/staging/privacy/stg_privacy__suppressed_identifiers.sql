{#-
    The hashed identifiers that must not come back: one row per sha256('<type>:<value>').
    `tessera privacy erase/suppress/unsuppress` writes the table privacy_suppression_list beside
    the models from its ledger (declared as a source in _privacy__sources.yml); a warehouse that
    never had a request has no such table, and then nothing is suppressed. Read by the base_
    models' first quarantine rule (a documented exception to "staging never reads staging": the
    list is a filter, not a source of rows).
-#}
{%- set suppression_source = source('privacy', 'privacy_suppression_list') -%}
{%- set listed = load_relation(suppression_source) if execute else none -%}

with

{% if listed is not none %}
suppression_list as (
    select * from {{ listed }}
),

final as (
    select distinct
        cast(identifier_hash as {{ dbt.type_string() }}) as identifier_hash
    from suppression_list
    where identifier_hash is not null
)
{% else %}
    final as (
        select
            cast(null as {{ dbt.type_string() }}) as identifier_hash
        where 1 = 0
    )
{% endif %}

select * from final
