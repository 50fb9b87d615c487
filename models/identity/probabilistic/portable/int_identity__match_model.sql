{#-
    Probabilistic matching runs where dbt runs Python models (DuckDB: Splink in
    duckdb/int_identity__match_model.py). On other warehouses the stage is skipped: this model keeps
    the same columns and no rows, so identity is deterministic there and everything downstream builds.
-#}
{{ log("identity: probabilistic matching is skipped on " ~ target.type ~ " (it runs on DuckDB)", info=true) if execute }}
select
    cast(null as {{ dbt.type_string() }}) as comparison_name,
    cast(null as {{ dbt.type_bigint() }}) as comparison_vector_value,
    cast(null as {{ dbt.type_string() }}) as level_label,
    cast(null as double precision) as m_probability,
    cast(null as double precision) as u_probability,
    cast(null as double precision) as match_weight,
    cast(null as boolean) as has_tf_adjustments,
    cast(null as {{ dbt.type_bigint() }}) as records,
    cast(null as double precision) as training_seconds,
    cast(null as {{ dbt.type_string() }}) as model_json
where 1 = 0
