{#- The scored pairs, where probabilistic matching is skipped (see int_identity__match_model.sql): no rows. -#}
select
    cast(null as {{ dbt.type_string() }}) as pair_id,
    {%- for side in ['l', 'r'] %}
    cast(null as {{ dbt.type_string() }}) as unique_id_{{ side }},
    {%- endfor %}
    {%- for side in ['l', 'r'] %}
    cast(null as {{ dbt.type_string() }}) as source_name_{{ side }},
    cast(null as {{ dbt.type_string() }}) as table_name_{{ side }},
    cast(null as {{ dbt.type_string() }}) as record_id_{{ side }},
    {%- endfor %}
    cast(null as double precision) as match_weight,
    cast(null as double precision) as match_probability,
    cast(null as boolean) as names_compatible,
    cast(null as boolean) as has_independent_evidence,
    {%- for comparison in var('identity_match_comparisons') %}
    cast(null as {{ dbt.type_string() }}) as {{ comparison }}_level,
    {%- endfor %}
    {%- for comparison in var('identity_match_comparisons') %}
    cast(null as double precision) as {{ comparison }}_match_weight,
    {%- endfor %}
    cast(null as {{ dbt.type_string() }}) as splink_record
where 1 = 0
