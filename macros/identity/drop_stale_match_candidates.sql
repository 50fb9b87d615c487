{#-
    int_identity__match_candidates' pre-hook: before a build adds the pairs it compared, drop the kept
    pairs that are no longer valid: those of a record that changed or was removed
    (int_identity__match_record_changes), and all of them when the kept pairs were compared under
    another model version than this build's (a retrained model may block on other rules) or when none
    are known to be valid. The candidates step (orchestration/identity/matching.py, score_candidates)
    decides by the same tests which pairs to compare again, so the table holds each blocked pair once.
    Nothing to drop when the model is built from scratch (first build, full refresh).
-#}
{% macro drop_stale_match_candidates() -%}
    {{ return(adapter.dispatch('drop_stale_match_candidates', 'tessera')()) }}
{%- endmacro %}

{% macro default__drop_stale_match_candidates() -%}
    {%- if is_incremental() %}
        {%- set changes = ref('int_identity__match_record_changes') %}
        {%- set fitted = ref('int_identity__match_model') %}
        delete from {{ this }}
        where
            model_version is null
            or model_version <> coalesce((select max(model_version) from {{ fitted }}), -1)
            or model_version <> coalesce((select max(scored_model_version) from {{ changes }}), -1)
            or unique_id_l in (select unique_id from {{ changes }} where not is_unchanged)
            or unique_id_r in (select unique_id from {{ changes }} where not is_unchanged)
    {%- endif %}
{%- endmacro %}

{#-
    Spark: a plain Parquet table has no DELETE (UNSUPPORTED_FEATURE.TABLE_OPERATION), so the kept pairs
    that stay valid are written to `<table>__kept`, the table is dropped and the copy renamed to it, as
    spark_delete_insert_sql does for delete+insert (inside the build database, which no reader
    queries). A row is kept where the default form's condition is false or null, as DELETE keeps it.
    One statement per call (Spark's parser takes one): the first three run here, the rename is the hook.
-#}
{% macro spark__drop_stale_match_candidates() -%}
    {%- if is_incremental() and execute %}
        {%- set changes = ref('int_identity__match_record_changes') %}
        {%- set fitted = ref('int_identity__match_model') %}
        {%- set kept = this.incorporate(path={"identifier": this.identifier ~ '__kept'}) %}
        {%- set stale -%}
            model_version is null
            or model_version <> coalesce((select max(model_version) from {{ fitted }}), -1)
            or model_version <> coalesce((select max(scored_model_version) from {{ changes }}), -1)
            or unique_id_l in (select unique_id from {{ changes }} where not is_unchanged)
            or unique_id_r in (select unique_id from {{ changes }} where not is_unchanged)
        {%- endset %}
        {% do run_query("drop table if exists " ~ kept) %}
        {% do run_query(
            "create table " ~ kept ~ " using parquet as select * from " ~ this
            ~ " where not coalesce((" ~ stale ~ "), false)"
        ) %}
        {% do run_query("drop table " ~ this) %}
        alter table {{ kept }} rename to {{ this.identifier }}
    {%- endif %}
{%- endmacro %}
