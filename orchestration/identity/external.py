"""Probabilistic identity matching outside dbt, for warehouses whose dbt adapter runs no Python models (Postgres).

On DuckDB, int_identity__match_model and int_identity__match_compared are dbt Python models that call
orchestration/identity/matching.py. Elsewhere the build stops after int_identity__match_features and
int_identity__match_record_changes; `match_outside_dbt` reads those rows (and
int_identity__match_model_kept) from the build schema into Arrow, runs the same `train_or_reuse`,
`model_from_table` and `score_candidates` (Splink on an in-process DuckDB, as inside dbt), and writes
int_identity__match_model__python and int_identity__match_compared__python (the pairs compared this
build). The next dbt invocation copies both, appends the compared pairs to the kept ones
(int_identity__match_candidates) and builds everything downstream (int_identity__match_pairs weighs
the pairs in SQL).

Splink's own Postgres backend was not used: it needs SQLAlchemy (a new dependency), runs Splink's
scratch tables on the shared server, and compares with other string functions and other float sums,
so the two warehouses could not be promised the same links. The features are small (15 columns per
person record); moving them to an in-process DuckDB costs seconds.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml  # type: ignore[import-untyped]

from orchestration.identity.matching import (
    CHANGE_COLUMNS,
    FEATURE_COLUMNS,
    KEPT_COLUMNS,
    score_candidates,
    train_or_reuse,
)
from orchestration.settings import PROJECT_DIR, Settings
from orchestration.warehouse.registry import get_warehouse

log = logging.getLogger(__name__)

FEATURES_MODEL = "int_identity__match_features"
KEPT_MODEL = "int_identity__match_model_kept"
MODEL_MODEL = "int_identity__match_model"
CHANGES_MODEL = "int_identity__match_record_changes"
COMPARED_MODEL = "int_identity__match_compared"


@dataclass(frozen=True)
class MatchingVars:
    """The dbt vars the DuckDB models read through their config (models/identity/probabilistic/)."""

    min_records: int
    review_threshold: float


def matching_vars(project_file: Path | None = None) -> MatchingVars:
    """identity_match_min_records and identity_match_review_threshold from dbt_project.yml."""
    path = project_file or PROJECT_DIR / "dbt_project.yml"
    variables = (yaml.safe_load(path.read_text()) or {}).get("vars") or {}
    try:
        min_records = int(variables["identity_match_min_records"])
        threshold = float(variables["identity_match_review_threshold"])
    except (KeyError, TypeError, ValueError) as error:
        raise ValueError(
            f"{path}: vars identity_match_min_records (an integer) and identity_match_review_threshold "
            f"(a probability) are needed for probabilistic matching: {error!r}"
        ) from error
    if not 0 < threshold <= 1 or min_records < 2:
        raise ValueError(
            f"{path}: identity_match_review_threshold must be in (0, 1] and identity_match_min_records "
            f"at least 2, not {threshold} and {min_records}"
        )
    return MatchingVars(min_records, threshold)


def match_outside_dbt(settings: Settings) -> dict[str, Any]:
    """Train (or reuse the kept model) and compare the pairs of new or changed records (all pairs when
    the kept ones cannot be reused) on the build schema's match features; write the model and the
    compared pairs."""
    started = time.monotonic()
    knobs = matching_vars()
    warehouse = get_warehouse(settings)
    features = warehouse.read_build_table(FEATURES_MODEL, FEATURE_COLUMNS)
    kept = warehouse.read_build_table(KEPT_MODEL, KEPT_COLUMNS)
    changes = warehouse.read_build_table(CHANGES_MODEL, CHANGE_COLUMNS)
    read_seconds = time.monotonic() - started
    fitted = train_or_reuse(features, kept, min_records=knobs.min_records)
    trained = fitted.trained
    model = fitted.table
    # Through the stored table, as int_identity__match_candidates.py reads it: the same JSON round trip.
    candidates = score_candidates(features, changes, model, kept)
    mark = time.monotonic()
    warehouse.write_build_table(f"{MODEL_MODEL}__python", model)
    warehouse.write_build_table(f"{COMPARED_MODEL}__python", candidates.pairs)
    figures = {
        "records": features.num_rows,
        "trained": fitted.version is not None and fitted.version.decision == "trained",
        "model_version": fitted.version.version if fitted.version else None,
        "model_decision": fitted.version.decision if fitted.version else None,
        "compared_pairs": candidates.pairs.num_rows,
        "compared_all": candidates.full,
        "new_records": candidates.new_records,
        "read_seconds": round(read_seconds, 3),
        "training_seconds": round(trained.seconds, 3)
        if trained and fitted.version and fitted.version.decision == "trained"
        else 0.0,
        "comparison_seconds": round(candidates.seconds, 3),
        "write_seconds": round(time.monotonic() - mark, 3),
        "seconds": round(time.monotonic() - started, 3),
    }
    log.info("identity matching outside dbt: %s", figures)
    return figures
