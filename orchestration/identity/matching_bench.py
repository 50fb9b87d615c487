"""`tessera bench probabilistic`: the probabilistic stage alone on N person records of a generated world.

Generates a world big enough, builds the models up to int_identity__match_features on DuckDB, takes
the first N feature rows, then times training and prediction in a fresh process (so that its peak
resident memory is the matcher's, not the generator's). JSON on the last line.
"""

from __future__ import annotations

import json
import os
import resource
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

# Person records per generated customer (CRM contacts, shop customers, identifies, tickets with a name).
RECORDS_PER_CUSTOMER = 1.6


def run_probabilistic_benchmark(records: int, seed: int, workdir: Path) -> dict[str, Any]:
    from orchestration.build.pipeline import run_dbt
    from orchestration.generate import generate
    from orchestration.identity.bench import bench_settings
    from orchestration.warehouse.connection import open_read_only
    from orchestration.warehouse.registry import get_warehouse

    settings = bench_settings(workdir)
    customers = int(records / RECORDS_PER_CUSTOMER) + 1
    started = time.perf_counter()
    marker = workdir / "generated.json"
    wanted = {"customers": customers, "seed": seed}
    if not marker.exists() or json.loads(marker.read_text()) != wanted:
        generate(customers=customers, seed=seed, out=settings.data_dir)
        marker.write_text(json.dumps(wanted))
    generate_seconds = time.perf_counter() - started
    warehouse = get_warehouse(settings)
    warehouse.prepare_build()
    warehouse.load_raw(settings.raw_dir)
    started = time.perf_counter()
    run_dbt(settings, ["seed"])
    results = run_dbt(settings, ["run", "--select", "+int_identity__match_features"])
    failed = [r["unique_id"] for r in results.get("results", []) if r.get("status") != "success"]
    if failed:
        raise RuntimeError(f"building the person records failed: {failed}")
    features_seconds = time.perf_counter() - started
    features_path = workdir / "features.parquet"
    con = open_read_only(settings.build_db)
    try:
        available = int(con.execute("select count(*) from int_identity__match_features").fetchall()[0][0])
        con.execute(
            f"copy (select * from int_identity__match_features order by unique_id limit {int(records)}) "
            f"to '{features_path}' (format parquet)"
        )
    finally:
        con.close()
    completed = subprocess.run(
        [sys.executable, "-m", "orchestration.identity.matching_bench", str(features_path)],
        check=True,
        capture_output=True,
        text=True,
    )
    stage = json.loads(completed.stdout.strip().splitlines()[-1])
    return {
        "benchmark": "probabilistic",
        "records_requested": records,
        "customers_generated": customers,
        "person_records_available": available,
        "cores": os.cpu_count(),
        "generate_seconds": round(generate_seconds, 1),
        "person_records_build_seconds": round(features_seconds, 1),
        **stage,
    }


def _stage(features_path: Path) -> dict[str, Any]:
    import pyarrow.parquet as pq

    from orchestration.identity.matching import predict, train

    features = pq.read_table(features_path)
    trained = train(features)
    if trained is None:
        raise RuntimeError(f"{features.num_rows} person records are too few to train a model")
    threshold = 0.8
    prediction = predict(features, trained.model, threshold)
    accept = prediction.pairs.filter(
        pa_compute_greater_equal(prediction.pairs.column("match_probability"), 0.99)
    ).num_rows
    peak_kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return {
        "records": features.num_rows,
        "training_seconds": round(trained.seconds, 1),
        "training_steps_seconds": {k: round(v, 1) for k, v in trained.steps.items()},
        "prediction_seconds": round(prediction.seconds, 1),
        "stage_seconds": round(trained.seconds + prediction.seconds, 1),
        "pairs_at_or_above_review_threshold": prediction.pairs.num_rows,
        "pairs_at_or_above_accept_threshold": accept,
        "peak_rss_gb": round(peak_kib / 1024 / 1024, 2),
    }


def pa_compute_greater_equal(column: Any, value: float) -> Any:
    import pyarrow.compute as pc

    return pc.greater_equal(column, value)


if __name__ == "__main__":
    print(json.dumps(_stage(Path(sys.argv[1]))))  # noqa: T201
