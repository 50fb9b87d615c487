"""Scoring outside dbt, for warehouses whose dbt adapter runs no Python models (Postgres).

On DuckDB, int_prediction_models and int_customer_features_scored are dbt Python models and one
`dbt build` does everything. Elsewhere the build runs in phases around the Python steps
(orchestration/build/outside_dbt.py): once the feature snapshots (and int_prediction_model_kept) are
built, `score_outside_dbt` reads them from the build schema in record batches, reuses the kept
classifiers or fits new ones (`train_or_reuse`), scores with them batch by batch (`score_batches`), and
writes int_prediction_models__python and int_customer_features_scored__python; the next invocation
builds both models (copies of those tables) and everything downstream.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from typing import Any

import pyarrow as pa

from orchestration.predictions.scoring import BATCH_ROWS, score_batches, survey, train_or_reuse
from orchestration.settings import Settings
from orchestration.warehouse.registry import get_warehouse

log = logging.getLogger(__name__)

FEATURES_MODEL = "int_customer_features_snapshotted"
KEPT_MODEL = "int_prediction_model_kept"
MODELS_MODEL = "int_prediction_models"
SCORES_MODEL = "int_customer_features_scored"


def score_outside_dbt(settings: Settings, batch_rows: int = BATCH_ROWS) -> dict[str, Any]:
    """Read the feature snapshots and the kept classifiers from the build schema, write the models
    this build scores with and the scores.

    Out of core: the snapshots are read in batches of `batch_rows`, three passes at most (the value
    models' columns and the count the retrain policy compares; the training rows, when a new version is
    trained; every column, scored and written a batch at a time), never as one table."""
    started = time.monotonic()
    warehouse = get_warehouse(settings)

    def read(columns: Sequence[str]) -> pa.RecordBatchReader:
        return warehouse.read_build_table_batches(FEATURES_MODEL, list(columns), batch_rows)

    kept = warehouse.read_build_table(KEPT_MODEL)
    surveyed = survey(read)
    models = train_or_reuse(read, kept, training_rows=surveyed.training_rows)
    warehouse.write_build_table(f"{MODELS_MODEL}__python", models)
    rows = warehouse.write_build_table_batches(
        f"{SCORES_MODEL}__python", score_batches(read, models=models, surveyed=surveyed)
    )
    seconds = time.monotonic() - started
    log.info("scored %d rows outside dbt in %.1f s", rows, seconds)
    return {"rows": rows, "seconds": seconds}
