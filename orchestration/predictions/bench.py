"""`tessera bench predictions`: model quality and timings of traits, predictions and audiences on one build."""

from __future__ import annotations

import logging
import os
import time
from pathlib import Path
from typing import Any

import pyarrow as pa

from orchestration.build.pipeline import build
from orchestration.generate import generate
from orchestration.identity.bench import bench_settings
from orchestration.predictions.scoring import score_features, train_or_reuse
from orchestration.warehouse.connection import open_read_only

log = logging.getLogger(__name__)

TIMED_MODELS = (
    "customer_traits",
    "int_customer_features_snapshotted",
    "int_prediction_models",
    "int_customer_features_scored",
    "customer_predictions",
    "model_metrics",
)


# The latest kept version, as int_prediction_model_kept hands it to the next build (default policy).
KEPT_SQL = """
    select false as retrain_requested, false as full_refresh, 0.2 as row_drift, 30.0 as max_age_days,
        model_version, trained_at, train_reason, builds_used, training_rows, churn_training_rows,
        purchase_30d_training_rows, training_seconds, definition_fingerprint, churn_model,
        purchase_30d_model
    from prediction_model_store
    order by model_version desc
    limit 1
"""


def _median(values: list[float]) -> float:
    ordered = sorted(values)
    middle = len(ordered) // 2
    return ordered[middle] if len(ordered) % 2 else (ordered[middle - 1] + ordered[middle]) / 2


def time_kept_versus_trained(features: Any, kept: Any, repeats: int = 3) -> dict[str, Any]:
    """The predictions step of a build that fits the classifiers (retrain asked for) against one that
    scores with the kept version, alternated `repeats` times in one process: medians and their ratio."""
    if kept.num_rows == 0:
        return {"skipped": "no kept version (too few rows to fit the classifiers)"}
    retrain = kept.set_column(0, "retrain_requested", pa.array([True]))
    trained: list[float] = []
    reused: list[float] = []
    decisions: set[str] = set()
    for _ in range(repeats):
        for asked, into in ((retrain, trained), (kept, reused)):
            started = time.monotonic()
            models = train_or_reuse(features, asked)
            score_features(features, models=models)
            into.append(time.monotonic() - started)
            decisions.add(models["model_decision"][0].as_py())
    return {
        "decisions": sorted(decisions),
        "train_and_score_seconds_median": round(_median(trained), 2),
        "kept_and_score_seconds_median": round(_median(reused), 2),
        "ratio_kept_to_trained": round(_median(reused) / _median(trained), 3),
        "repeats": repeats,
    }


def run_predictions_benchmark(customers: int, seed: int, workdir: Path) -> dict[str, Any]:
    """Generate a world, build it once on DuckDB, and read the model metrics and model timings;
    then time the scoring step alone on the published feature snapshots (train vs score), and a
    build's predictions step that fits the classifiers against one that reuses the kept version."""
    settings = bench_settings(workdir)
    started = time.monotonic()
    generate(customers=customers, seed=seed, out=settings.data_dir)
    generate_seconds = time.monotonic() - started
    result = build(settings, reason="tessera bench predictions")
    con = open_read_only(settings.published_db)
    try:
        metrics = con.execute(
            "select model_name, metric_name, decile, metric_value, row_count from model_metrics "
            "where build_id = (select max_by(build_id, built_at) from model_metrics)"
        ).fetchall()
        features = con.sql("select * from int_customer_features_snapshotted").to_arrow_table()
        kept = con.sql(KEPT_SQL).to_arrow_table()
        dates = con.execute("select max(training_cutoff_at), max(scored_at) from model_metrics").fetchone()
        customer_count = con.execute("select count(*) from customers").fetchone()[0]  # type: ignore[index]
    finally:
        con.close()
    timings: dict[str, float] = {}
    score_features(features, timings)
    load_before = round(os.getloadavg()[0], 2)
    kept_versus_trained = {
        **time_kept_versus_trained(features, kept),
        "load_average_1m_before_after": [load_before, round(os.getloadavg()[0], 2)],
    }
    by_key = {(m, n, d): (v, c) for m, n, d, v, c in metrics}
    models: dict[str, Any] = {}
    for model in ("churn", "purchase_30d", "value_12m"):
        auc = by_key.get((model, "auc", None))
        models[model] = {
            "auc": None if auc is None else round(auc[0], 4),
            "evaluation_rows": by_key.get((model, "outcome_mean", None), (None, None))[1],
            "outcome_mean": round(by_key.get((model, "outcome_mean", None), (0.0, 0))[0], 4),
            "lift_top_decile": round(by_key.get((model, "lift", 1), (0.0, 0))[0], 3),
            "lift_by_decile": [round(by_key.get((model, "lift", d), (0.0, 0))[0], 3) for d in range(1, 11)],
            "calibration": [
                [
                    round(by_key.get((model, "calibration_predicted", d), (0.0, 0))[0], 4),
                    round(by_key.get((model, "calibration_observed", d), (0.0, 0))[0], 4),
                ]
                for d in range(1, 11)
            ],
            "training_rows": by_key.get((model, "training_rows", None), (None, None))[1],
            "scored_rows": by_key.get((model, "scored_rows", None), (None, None))[1],
        }
    audience_seconds = sum(s for name, s in result.node_seconds.items() if name.startswith("audience_"))
    return {
        "benchmark": "predictions",
        "customers": customers,
        "golden_customers": customer_count,
        "seed": seed,
        "cores": os.cpu_count(),
        "load_average_1m": round(os.getloadavg()[0], 2),
        "training_cutoff_at": str(dates[0]) if dates else None,
        "scored_at": str(dates[1]) if dates else None,
        "models": models,
        "model_seconds": {name: round(result.node_seconds.get(name, 0.0), 2) for name in TIMED_MODELS},
        "traits_build_seconds": round(result.node_seconds.get("customer_traits", 0.0), 2),
        "audiences_build_seconds": round(audience_seconds, 2),
        "scoring_rerun_seconds": {k: round(v, 2) for k, v in timings.items()},
        "kept_versus_trained": kept_versus_trained,
        "generate_seconds": round(generate_seconds, 2),
        "build_seconds": round(result.seconds, 2),
    }
