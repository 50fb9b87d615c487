"""The churn and purchase-in-30-days classifiers this build scores with, on DuckDB: the latest kept
version while it still fits the data, else both fitted anew on the training snapshot as a new version
(one row; orchestration/predictions/kept.py says when, prediction_model_store keeps the versions).
On Postgres the pipeline's scoring step runs the same function between two dbt invocations.

Training reads only what it fits on: the training snapshot's customers with history outside the
evaluation holdout (filtered here, in DuckDB), and only the classifiers' columns, in record batches.
"""

from orchestration.predictions.scoring import BATCH_ROWS, train_or_reuse

FITTED_ON = (
    "snapshot_name = 'training' and coalesce(cast(has_history as boolean), false) "
    "and not coalesce(cast(is_evaluation_holdout as boolean), false)"
)


def model(dbt, session):
    dbt.config(materialized="table")
    features = dbt.ref("int_customer_features_snapshotted")
    kept = dbt.ref("int_prediction_model_kept").to_arrow_table()
    # Counted in DuckDB: a build that reuses the kept version reads no feature row into Python.
    training_rows = (
        features.filter("snapshot_name = 'training' and coalesce(cast(has_history as boolean), false)")
        .aggregate("count(*)")
        .fetchall()[0][0]
    )
    fitted_on = features.filter(FITTED_ON)

    def read(columns):
        return fitted_on.select(*columns).to_arrow_reader(BATCH_ROWS)

    return train_or_reuse(read, kept, training_rows=int(training_rows))
