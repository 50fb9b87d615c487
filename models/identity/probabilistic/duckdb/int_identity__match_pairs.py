"""Every scored pair of person records at or above the review threshold, with its match probability
and its match-weight breakdown per comparison (Splink on DuckDB, with this build's trained model)."""

from orchestration.identity.matching import model_from_table, predict


def model(dbt, session):
    dbt.config(materialized="table")
    features = dbt.ref("int_identity__match_features").to_arrow_table()
    trained = model_from_table(dbt.ref("int_identity__match_model").to_arrow_table())
    threshold = float(dbt.config.get("review_threshold"))
    return predict(features, trained, threshold).pairs
