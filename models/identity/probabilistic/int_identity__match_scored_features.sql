{#-
    The match features this build's candidate pairs were compared on, with the model version: what the
    next build's int_identity__match_record_changes compares its records against. A table rebuilt
    every build from int_identity__match_features, so it holds no record the features no longer do.
-#}
-- depends_on: {{ ref('int_identity__match_candidates') }}
with

features as (
    select * from {{ ref('int_identity__match_features') }}
),

fitted as (
    select max(model_version) as model_version
    from {{ ref('int_identity__match_model') }}
),

final as (
    select
        features.unique_id,
        features.source_name,
        features.table_name,
        features.record_id,
        features.first_name_key,
        features.last_name_key,
        features.first_name_formal,
        features.last_name_formal,
        features.date_of_birth,
        features.email,
        features.email_user,
        features.phone,
        features.street_key,
        features.postcode,
        features.city_key,
        features.country,
        fitted.model_version
    from features
    left join fitted on 1 = 1
)

select * from final
