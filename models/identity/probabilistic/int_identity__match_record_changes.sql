{#-
    Which person records changed since their pairs were last compared: one row per record of this
    build's match features or of the last build's (int_identity__match_scored_features, read by name:
    it is downstream, and the build starts from the published state), saying whether it is still
    there and unchanged in every compared column, and which model version the kept pairs were
    compared under (null when nothing is kept: every pair is compared again). The candidates step
    compares only the pairs that touch a record not unchanged (int_identity__match_candidates).
-#}
{%- set kept = [] %}
{%- if execute %}
    {%- for name in ['int_identity__match_scored_features', 'int_identity__match_candidates'] %}
        {%- do kept.append(adapter.get_relation(
            database=this.database, schema=this.schema, identifier=name
        )) %}
    {%- endfor %}
{%- endif %}
{%- set has_kept = kept | length == 2 and kept[0] is not none and kept[1] is not none %}
{%- set columns = [
    'unique_id', 'source_name', 'table_name', 'record_id', 'first_name_key', 'last_name_key',
    'first_name_formal', 'last_name_formal', 'date_of_birth', 'email', 'email_user', 'phone',
    'street_key', 'postcode', 'city_key', 'country',
] %}

with

features as (
    select * from {{ ref('int_identity__match_features') }}
),

scored as (
    {%- if has_kept %}
    select * from {{ kept[0] }}
    {%- else %}
        select
            {%- for column in columns %}
                {{ column }},
            {%- endfor %}
            cast(null as {{ dbt.type_bigint() }}) as model_version
        from features
        where 1 = 0
    {%- endif %}
),

unchanged as (
    select {{ columns | join(', ') }} from features
    intersect
    select {{ columns | join(', ') }} from scored
),

records as (
    select unique_id from features
    union
    select unique_id from scored
),

scored_version as (
    select max(model_version) as model_version from scored
),

final as (
    select
        records.unique_id,
        scored_version.model_version as scored_model_version,
        features.unique_id is not null as is_current,
        unchanged.unique_id is not null as is_unchanged
    from records
    left join features
        on records.unique_id = features.unique_id
    left join unchanged
        on records.unique_id = unchanged.unique_id
    left join scored_version on 1 = 1
)

select * from final
