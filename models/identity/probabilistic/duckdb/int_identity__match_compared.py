"""The pairs of person records this build compares (Splink on DuckDB): those that touch a new or
changed record, blocked against all records, or every blocked pair after a full refresh, without kept
pairs or under another model version (orchestration/identity/matching.py, score_candidates). Each
with its comparison vector; int_identity__match_candidates adds them to the kept ones."""

from orchestration.identity.matching import score_candidates


def model(dbt, session):
    dbt.config(materialized="table")
    features = dbt.ref("int_identity__match_features").to_arrow_table()
    changes = dbt.ref("int_identity__match_record_changes").to_arrow_table()
    model_table = dbt.ref("int_identity__match_model").to_arrow_table()
    kept = dbt.ref("int_identity__match_model_kept").to_arrow_table()
    return score_candidates(features, changes, model_table, kept).pairs
