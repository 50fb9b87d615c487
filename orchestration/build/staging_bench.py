"""`tessera bench staging`: the events' staging on one generated world, through the raw contract (its files
loaded into raw_events, then staged) and through the segment preset (the same calls written as Segment's
warehouse tables, read in place), in one run, so the two figures share the machine's load (issue #15)."""

from __future__ import annotations

import contextlib
import os
import shutil
import statistics
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from orchestration.build.pipeline import run_dbt
from orchestration.settings import Settings
from orchestration.source_presets import PRESETS_FILE_ENV

#: The events' staging and what it reads (the preset's base models, the suppression list).
STAGING = ["run", "--select", "+path:models/staging/events"]
#: The staged tables compared between the two paths.
STAGED = ("stg_events__tracks", "stg_events__pages", "stg_events__identifies")


@contextlib.contextmanager
def _presets_file(path: Path | None, settings: Settings) -> Iterator[None]:
    """TESSERA_SOURCE_PRESETS for the dbt invocations inside (None: a file that declares nothing), with the
    data folder of `settings`: a presets file that declares nothing falls back to the demo's declarations
    of the data folder (source_presets.config.presets_path), which must be this world's, not the user's."""
    overrides = {
        PRESETS_FILE_ENV: str(path) if path else os.devnull,
        "TESSERA_DATA_DIR": str(settings.data_dir),
    }
    before = {name: os.environ.get(name) for name in overrides}
    os.environ.update(overrides)
    try:
        yield
    finally:
        for name, value in before.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


def _staging_run(settings: Settings) -> dict[str, float]:
    """One dbt run of the events' staging (after the seeds it reads, untimed): its wall time, and the
    models' own time from run_results."""
    run_dbt(settings, ["seed"])
    started = time.perf_counter()
    results = run_dbt(settings, STAGING)
    wall = time.perf_counter() - started
    failed = [r["unique_id"] for r in results["results"] if r["status"] not in ("success", "pass")]
    if failed:
        raise RuntimeError(f"staging failed: {failed}")
    models = sum(r["execution_time"] for r in results["results"])
    return {"wall_seconds": wall, "model_seconds": models}


def _staged_rows(settings: Settings) -> dict[str, int]:
    from orchestration.warehouse.connection import open_read_only

    con = open_read_only(settings.build_db)
    try:
        return {table: con.execute(f"select count(*) from {table}").fetchall()[0][0] for table in STAGED}
    finally:
        con.close()


def run_staging_benchmark(customers: int, seed: int, workdir: Path, repeat: int = 3) -> dict[str, Any]:
    """Generate one world; stage its events `repeat` times through each path, alternating; medians."""
    from orchestration.generate import generate
    from orchestration.generate.loader_shapes import write_presets_file
    from orchestration.identity.bench import bench_settings
    from orchestration.warehouse.registry import get_warehouse

    generated = workdir / "generated"
    began = time.perf_counter()
    generate(customers=customers, seed=seed, out=generated)
    generate_seconds = time.perf_counter() - began

    # The contract: only the events' files, loaded into raw_events by every build.
    contract = bench_settings(workdir / "contract")
    shutil.copytree(generated / "raw" / "events", contract.raw_dir / "events")
    # The segment preset: the same calls as Segment's tables where the demo writes them, read in place.
    segment = bench_settings(workdir / "segment")
    segment.raw_dir.mkdir(parents=True)
    began = time.perf_counter()
    segment_warehouse = get_warehouse(segment)
    written = segment_warehouse.write_demo_loader_tables(generated / "raw", ["events"])
    write_seconds = time.perf_counter() - began
    presets = workdir / "segment" / "presets.yml"
    write_presets_file(presets, ["events"], segment_warehouse.demo_loader_database())

    runs: dict[str, list[dict[str, float]]] = {"contract": [], "segment": []}
    for _ in range(repeat):
        with _presets_file(None, contract):
            warehouse = get_warehouse(contract)
            warehouse.prepare_build()
            began = time.perf_counter()
            warehouse.load_raw(contract.raw_dir)
            load = time.perf_counter() - began
            run = _staging_run(contract)
            runs["contract"].append(
                {**run, "load_seconds": load, "total_seconds": load + run["wall_seconds"]}
            )
        with _presets_file(presets, segment):
            warehouse = get_warehouse(segment)
            warehouse.prepare_build()
            warehouse.load_raw(segment.raw_dir)  # nothing but empty stand-ins: the events are in place
            run = _staging_run(segment)
            runs["segment"].append({**run, "load_seconds": 0.0, "total_seconds": run["wall_seconds"]})
    contract_rows = _staged_rows(contract)
    segment_rows = _staged_rows(segment)

    def medians(path: str) -> dict[str, float]:
        keys = runs[path][0].keys()
        return {key: round(statistics.median(run[key] for run in runs[path]), 2) for key in keys}

    figures: dict[str, Any] = {
        "benchmark": "staging",
        "customers": customers,
        "seed": seed,
        "repeat": repeat,
        "cores": os.cpu_count(),
        "generate_seconds": round(generate_seconds, 1),
        "segment_tables_written_seconds": round(write_seconds, 1),
        "segment_rows_written": written.get("events", {}),
        "contract": medians("contract"),
        "segment": medians("segment"),
        "staged_rows": {"contract": contract_rows, "segment": segment_rows},
    }
    figures["segment_over_contract_staging"] = round(
        figures["segment"]["wall_seconds"] / figures["contract"]["wall_seconds"], 3
    )
    figures["segment_over_contract_load_and_staging"] = round(
        figures["segment"]["total_seconds"] / figures["contract"]["total_seconds"], 3
    )
    figures["load_average"] = [round(x, 2) for x in os.getloadavg()]
    return figures
