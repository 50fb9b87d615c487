"""Churn, purchase-in-30-days and 12-month value per customer, scored in-process on DuckDB with the
classifiers of int_prediction_models (kept between builds, or fitted by this build).

The logic is orchestration/predictions/scoring.py; on Postgres (no dbt Python models) the pipeline
runs the same function between two dbt invocations (docs/predictions.md).
"""

from orchestration.predictions.scoring import score_features


def model(dbt, session):
    dbt.config(materialized="table")
    features = dbt.ref("int_customer_features_snapshotted").to_arrow_table()
    return score_features(features, models=dbt.ref("int_prediction_models").to_arrow_table())
