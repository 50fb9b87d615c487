"""`tessera bench events-mart`: the incremental `events` mart (issue #16) on one generated world whose events
are Segment's warehouse tables, read in place with a loader's load times: `growth` more calls land in a later
load, and the built world takes them in incrementally and, for comparison, placed whole (every event staged
and placed again), alternating, so that the two figures share the machine's load. The incremental orders,
order_items and consent marts are built beside it, timed and compared the same way (their raw files are the
demo's, stamped with one load time)."""

from __future__ import annotations

import os
import shutil
import statistics
import time
from pathlib import Path
from typing import Any

from orchestration.build.pipeline import restaging_events, run_dbt
from orchestration.build.staging_bench import (
    land_more_calls,
    lookback_hours,
    presets_file,
    spread_load_times,
    table_digest,
)
from orchestration.generate.loader_shapes import LOADER_SHAPES
from orchestration.settings import Settings

#: The incremental marts and everything they read (staging, identity), with the seeds; no tests (they are the
#: audit's).
MART = [
    "build",
    "--select",
    "+events",
    "+order_items",
    "+consent_current",
    "--exclude-resource-type",
    "test",
    "--exclude-resource-type",
    "unit_test",
]


#: The other incremental marts, built, timed and compared beside events.
OTHER_MARTS = ("orders", "order_items", "consent_history")


def _mart_run(settings: Settings) -> dict[str, float]:
    """One dbt build of the marts and what they read: its wall time, the events model's own time, the events'
    staging and mart models' time together (identity, not incremental yet, is the rest), and the orders and
    consent marts' own time."""
    started = time.perf_counter()
    results = run_dbt(settings, MART)["results"]
    wall = time.perf_counter() - started
    failed = [r["unique_id"] for r in results if r["status"] not in ("success", "pass")]
    if failed:
        raise RuntimeError(f"the events mart's build failed: {failed}")
    seconds = {r["unique_id"]: r["execution_time"] for r in results}
    events = seconds["model.tessera.events"]
    staging = sum(v for k, v in seconds.items() if ".base_events__" in k or ".stg_events__" in k)
    others = sum(seconds[f"model.tessera.{name}"] for name in OTHER_MARTS)
    return {
        "wall_seconds": wall,
        "events_seconds": events,
        "events_and_staging_seconds": events + staging,
        "orders_and_consent_seconds": others,
    }


def run_events_mart_benchmark(
    customers: int, seed: int, workdir: Path, repeat: int = 3, growth: float = 0.01
) -> dict[str, Any]:
    """Generate one world (its events as Segment's tables), build the mart once; land `growth` more calls and
    build the mart `repeat` times incrementally and placed whole, alternating, from the same built state;
    medians, and whether both ways give the same table."""
    from orchestration.generate import generate
    from orchestration.generate.loader_shapes import write_presets_file
    from orchestration.identity.bench import bench_settings
    from orchestration.warehouse.registry import get_warehouse

    generated = workdir / "generated"
    began = time.perf_counter()
    generate(customers=customers, seed=seed, out=generated)
    generate_seconds = time.perf_counter() - began
    settings = bench_settings(workdir / "world")
    # Every system's files but the events', which are written as the loader's tables, read in place.
    shutil.copytree(generated / "raw", settings.raw_dir, ignore=shutil.ignore_patterns("events"))
    warehouse = get_warehouse(settings)
    written = warehouse.write_demo_loader_tables(generated / "raw", ["events"])
    loader_database = warehouse.demo_loader_database()
    assert loader_database is not None, "bench_settings are DuckDB's, whose demo writes a loader file"
    loader_file, events_schema = loader_database[1], LOADER_SHAPES["events"][1]
    spread_load_times(loader_file, events_schema)
    presets = workdir / "world" / "presets.yml"
    write_presets_file(presets, ["events"], loader_database)

    with presets_file(presets, settings):
        warehouse.prepare_build()
        warehouse.load_raw(settings.raw_dir)
        first = _mart_run(settings)
    built = workdir / "world" / "built.duckdb"
    shutil.copyfile(settings.build_db, built)
    landed = land_more_calls(loader_file, events_schema, growth, seed)
    runs: dict[str, list[dict[str, float]]] = {"incremental": [], "whole": []}
    digests: dict[str, Any] = {}
    for _ in range(repeat):
        for way, placed_whole in (("incremental", False), ("whole", True)):
            shutil.copyfile(built, settings.build_db)
            with presets_file(presets, settings), restaging_events(placed_whole):
                runs[way].append(_mart_run(settings))
            digests[way] = table_digest(settings, ("events", *OTHER_MARTS))

    def medians(way: str) -> dict[str, float]:
        return {key: round(statistics.median(run[key] for run in runs[way]), 2) for key in runs[way][0]}

    incremental, whole = medians("incremental"), medians("whole")
    return {
        "benchmark": "events_mart",
        "customers": customers,
        "seed": seed,
        "repeat": repeat,
        "cores": os.cpu_count(),
        "generate_seconds": round(generate_seconds, 1),
        "segment_rows_written": written.get("events", {}),
        "first_build": {key: round(value, 2) for key, value in first.items()},
        "growth": growth,
        "segment_rows_landed": landed,
        "lookback_hours": lookback_hours(),
        "incremental": incremental,
        "whole": whole,
        "events_incremental_over_whole": round(incremental["events_seconds"] / whole["events_seconds"], 3),
        "events_and_staging_incremental_over_whole": round(
            incremental["events_and_staging_seconds"] / whole["events_and_staging_seconds"], 3
        ),
        "wall_incremental_over_whole": round(incremental["wall_seconds"] / whole["wall_seconds"], 3),
        "incremental_equals_whole": digests["incremental"] == digests["whole"],
        "load_average": [round(x, 2) for x in os.getloadavg()],
    }
