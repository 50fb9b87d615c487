"""Scoring outside dbt, for warehouses whose dbt adapter runs no Python models (Postgres).

On DuckDB, int_prediction_models and int_customer_features_scored are dbt Python models and one
`dbt build` does everything. Elsewhere the build runs in phases around the Python steps
(orchestration/build/outside_dbt.py): once the feature snapshots (and int_prediction_model_kept) are
built, `score_outside_dbt` reads them from the build schema, reuses the kept classifiers or fits new
ones (`train_or_reuse`), scores with them (`score_features`), and writes int_prediction_models__python
and int_customer_features_scored__python; the next invocation builds both models (copies of those
tables) and everything downstream.
"""

from __future__ import annotations

import logging
import time
from typing import Any

from orchestration.predictions.scoring import score_features, train_or_reuse
from orchestration.settings import Settings
from orchestration.warehouse.registry import get_warehouse

log = logging.getLogger(__name__)

FEATURES_MODEL = "int_customer_features_snapshotted"
KEPT_MODEL = "int_prediction_model_kept"
MODELS_MODEL = "int_prediction_models"
SCORES_MODEL = "int_customer_features_scored"


def score_outside_dbt(settings: Settings) -> dict[str, Any]:
    """Read the feature snapshots and the kept classifiers from the build schema, write the models
    this build scores with and the scores."""
    started = time.monotonic()
    warehouse = get_warehouse(settings)
    features = warehouse.read_build_table(FEATURES_MODEL)
    kept = warehouse.read_build_table(KEPT_MODEL)
    read_seconds = time.monotonic() - started
    models = train_or_reuse(features, kept)
    scored = score_features(features, models=models)
    warehouse.write_build_table(f"{MODELS_MODEL}__python", models)
    warehouse.write_build_table(f"{SCORES_MODEL}__python", scored)
    seconds = time.monotonic() - started
    log.info("scored %d rows outside dbt in %.1f s (read %.1f s)", scored.num_rows, seconds, read_seconds)
    return {"rows": scored.num_rows, "seconds": seconds}
