{#-
    The costly part of the matching features, one row per person record: the name, street and city
    keys (accents stripped, regular expressions), kept from build to build. A build keys again only
    the records that are new or whose keyed columns changed (`keyed_input`, a digest of them);
    records no longer among the person records are deleted (post-hook). Every record is keyed
    again on the first build, a full refresh, and when the keying itself changed (`keying_logic`,
    a digest of the rendered key expressions: tessera.kept_by_logic). A record's keys depend on
    its own columns only; what depends on other records (the guards' verdicts on its email and
    phone) and the nickname seed are joined on every build by int_identity__match_features.
    On Spark, whose plain tables cannot delete by key, a table built whole.
-#}
{{ config(
    materialized=tessera.deliveries_materialization(),
    incremental_strategy='delete+insert',
    unique_key='unique_id',
    on_schema_change='append_new_columns',
    post_hook="{{ tessera.match_record_keys_removed_upstream() }}",
) }}
{%- set keyed_columns = [
    'first_name', 'last_name', 'full_name', 'date_of_birth', 'email', 'phone', 'street', 'city',
    'postcode', 'country',
] -%}
{%- set given_name -%}
    case
        when first_name is not null or last_name is not null then first_name
        when
            full_name like '%,%'
            then trim({{ dbt.split_part('full_name', "','", 2) }})
        else {{ dbt.split_part('full_name', "' '", 1) }}
    end
{%- endset -%}
{%- set family_name -%}
    case
        when first_name is not null or last_name is not null then last_name
        when
            full_name like '%,%'
            then trim({{ dbt.split_part('full_name', "','", 1) }})
        when
            full_name like '% %'
            then reverse({{ dbt.split_part('reverse(full_name)', "' '", 1) }})
    end
{%- endset -%}
{%- set keys -%}
    {{ tessera.name_key('given_name') }} as first_name_key,
    {{ tessera.name_key('family_name') }} as last_name_key,
    {{ tessera.street_key('street') }} as street_key,
    {{ tessera.name_key('city') }} as city_key
{%- endset -%}
{%- set fingerprint = local_md5(
    'match_record_keys 1\n' ~ keyed_columns | join(',')
    ~ '\n' ~ given_name ~ '\n' ~ family_name ~ '\n' ~ keys
) -%}
{%- set incremental = tessera.kept_by_logic(
    'keying_logic', fingerprint, 'person record'
) -%}
with

person_records as (
    select * from {{ ref('int_identity__person_records') }}
),

{# The keyed columns, digested (tessera.row_digest). #}
digested as (
    select
        {{ tessera.match_record_unique_id() }} as unique_id,
        *,
        {{ tessera.row_digest(keyed_columns) }} as keyed_input
    from person_records
),

batch as (
    select * from digested
    {%- if incremental %}
    where not exists (
        select 1 from {{ this }} as kept
        where
            kept.unique_id = digested.unique_id
            and kept.keyed_input = digested.keyed_input
    )
    {%- endif %}
),

split_names as (
    select
        *,
        {{ given_name }} as given_name,
        {{ family_name }} as family_name
    from batch
),

final as (
    select
        unique_id,
        source_name,
        table_name,
        record_id,
        {{ keys }},
        date_of_birth,
        email,
        phone,
        postcode,
        country,
        keyed_input,
        cast('{{ fingerprint }}' as {{ dbt.type_string() }}) as keying_logic,
        cast('{{ invocation_id }}' as {{ dbt.type_string() }}) as build_id
    from split_names
)

select * from final
