"""Churn, purchase-in-30-days and 12-month value per customer, scored in-process on DuckDB with the
classifiers of int_prediction_models (kept between builds, or fitted by this build).

The logic is orchestration/predictions/scoring.py; on Postgres (no dbt Python models) the pipeline
runs the same function between two dbt invocations (docs/predictions.md).

Out of core: the features are read in record batches and the scores returned as a stream
(a pyarrow RecordBatchReader), which dbt-duckdb scans into the table from a cursor of its own; Python
holds one batch of features at a time, never the table.
"""

from orchestration.predictions.scoring import BATCH_ROWS, score_batches


def model(dbt, session):
    dbt.config(materialized="table")
    features = dbt.ref("int_customer_features_snapshotted")
    # Read before the features' stream opens on this connection: another query would close it.
    models = dbt.ref("int_prediction_models").to_arrow_table()

    def read(columns):
        return features.select(*columns).to_arrow_reader(BATCH_ROWS)

    return score_batches(read, models=models)
