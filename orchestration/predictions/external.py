"""Scoring outside dbt, for warehouses whose dbt adapter runs no Python models (Postgres).

On DuckDB, int_customer_features_scored is a dbt Python model and one `dbt build` does everything.
Elsewhere the build runs in phases around the Python steps (orchestration/build/outside_dbt.py): once the
feature snapshots are built, `score_outside_dbt` reads them from the build schema, runs the same
`score_features`, and writes int_customer_features_scored__python; the next invocation builds the
scores model (a copy of that table) and everything downstream.
"""

from __future__ import annotations

import logging
import time
from typing import Any

from orchestration.predictions.scoring import score_features
from orchestration.settings import Settings
from orchestration.warehouse.registry import get_warehouse

log = logging.getLogger(__name__)

FEATURES_MODEL = "int_customer_features_snapshotted"
SCORES_MODEL = "int_customer_features_scored"
WRITTEN_TABLE = f"{SCORES_MODEL}__python"


def score_outside_dbt(settings: Settings) -> dict[str, Any]:
    """Read the feature snapshots from the build schema, score them, write the scores table."""
    started = time.monotonic()
    warehouse = get_warehouse(settings)
    features = warehouse.read_build_table(FEATURES_MODEL)
    read_seconds = time.monotonic() - started
    scored = score_features(features)
    warehouse.write_build_table(WRITTEN_TABLE, scored)
    seconds = time.monotonic() - started
    log.info("scored %d rows outside dbt in %.1f s (read %.1f s)", scored.num_rows, seconds, read_seconds)
    return {"rows": scored.num_rows, "seconds": seconds}
