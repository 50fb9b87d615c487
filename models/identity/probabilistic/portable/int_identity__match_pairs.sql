{#-
    The scored pairs on warehouses whose dbt runs no Python models (Postgres): written by the
    pipeline's identity matching step with the same Splink code and this build's model
    (orchestration/identity/external.py; see int_identity__match_model.sql), copied here.
-#}
-- depends_on: {{ ref('int_identity__match_features') }}
-- depends_on: {{ ref('int_identity__match_model') }}
{%- set written = tessera.python_step_table('identity matching') %}

with

scored as (
    select * from {{ written }}
),

final as (
    select
        cast(pair_id as {{ dbt.type_string() }}) as pair_id,
        {%- for side in ['l', 'r'] %}
        cast(unique_id_{{ side }} as {{ dbt.type_string() }}) as unique_id_{{ side }},
        {%- endfor %}
        {%- for side in ['l', 'r'] %}
        cast(source_name_{{ side }} as {{ dbt.type_string() }}) as source_name_{{ side }},
        cast(table_name_{{ side }} as {{ dbt.type_string() }}) as table_name_{{ side }},
        cast(record_id_{{ side }} as {{ dbt.type_string() }}) as record_id_{{ side }},
        {%- endfor %}
        cast(match_weight as {{ tessera.type_double() }}) as match_weight,
        cast(match_probability as {{ tessera.type_double() }}) as match_probability,
        cast(names_compatible as boolean) as names_compatible,
        cast(has_independent_evidence as boolean) as has_independent_evidence,
        {%- for comparison in var('identity_match_comparisons') %}
        cast({{ comparison }}_level as {{ dbt.type_string() }}) as {{ comparison }}_level,
        {%- endfor %}
        {%- for comparison in var('identity_match_comparisons') %}
        cast({{ comparison }}_match_weight as {{ tessera.type_double() }}) as {{ comparison }}_match_weight,
        {%- endfor %}
        cast(splink_record as {{ dbt.type_string() }}) as splink_record
    from scored
)

select * from final
