"""`tessera bench staging`: the events' staging on one generated world, through the raw contract (its files
loaded into raw_events, then staged) and through the segment preset (the same calls written as Segment's
warehouse tables, read in place), in one run, so the two figures share the machine's load (issue #15).
Then the segment preset's incremental staging (issue #16): `growth` more calls land in a later load, and
the staged world takes them in incrementally and, for comparison, restaged whole, alternating."""

from __future__ import annotations

import contextlib
import datetime as dt
import os
import shutil
import statistics
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from orchestration.build.pipeline import restaging_events, run_dbt
from orchestration.generate.loader_shapes import LOADER_SHAPES
from orchestration.settings import Settings
from orchestration.source_presets import PRESETS_FILE_ENV

#: The events' staging and what it reads (the preset's base models, the suppression list).
STAGING = ["run", "--select", "+path:models/staging/events"]
#: The staged tables compared between the two paths.
STAGED = ("stg_events__tracks", "stg_events__pages", "stg_events__identifies")


@contextlib.contextmanager
def presets_file(path: Path | None, settings: Settings) -> Iterator[None]:
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


#: The Segment tables the incremental base models read: the append-only logs (and the per-event tables).
LOGS = ("tracks", "pages", "screens")


def lookback_hours() -> int:
    """dbt_project.yml's events_lookback_hours, which the benchmark leaves as it is."""
    import yaml  # type: ignore[import-untyped]

    from orchestration.settings import PROJECT_DIR

    return int(yaml.safe_load((PROJECT_DIR / "dbt_project.yml").read_text())["vars"]["events_lookback_hours"])


def spread_load_times(path: Path, schema: str) -> None:
    """The generator stamps every row of a system with one load time; a loader writes batches through the
    day. Each row of the Segment tables in `path` gets its own: an hour after it was received."""
    import duckdb

    con = duckdb.connect(str(path))
    try:
        tables = con.execute(
            "select table_name from information_schema.columns where table_schema = ? "
            "and column_name in ('uuid_ts', 'received_at') group by 1 having count(*) = 2",
            [schema],
        ).fetchall()
        for (table,) in tables:
            con.execute(
                f"update {schema}.{table} set uuid_ts = coalesce(received_at + interval 1 hour, uuid_ts)"
            )
    finally:
        con.close()


def _rows_loaded_since_cutoff(path: Path, schema: str, staged: Path, lookback_hours: int) -> dict[str, int]:
    """Rows of each Segment log loaded at or after its incremental base model's cut-off (the latest load
    staged in it, less the lookback). An incremental build restages every delivery of those rows' messages
    (and of the calls whose properties rows were loaded since), and the rows without a message id."""
    import duckdb

    staged_con = duckdb.connect(str(staged), read_only=True)
    con = duckdb.connect(str(path), read_only=True)
    try:
        present = {t for (t,) in con.execute(
            "select table_name from information_schema.tables where table_schema = ?", [schema]
        ).fetchall()}  # fmt: skip
        loaded: dict[str, int] = {}
        for table in (t for t in LOGS if t in present):
            latest = staged_con.execute(f"select max(loaded_at) from base_events__{table}").fetchall()[0][0]
            where = "" if latest is None else "where uuid_ts >= ?"
            params = [] if latest is None else [latest - dt.timedelta(hours=lookback_hours)]
            loaded[table] = con.execute(f"select count(*) from {schema}.{table} {where}", params).fetchall()[
                0
            ][0]
        return loaded
    finally:
        con.close()
        staged_con.close()


def land_more_calls(path: Path, schema: str, growth: float, seed: int) -> dict[str, int]:
    """Copies of `growth` of the calls in the Segment logs of the loader file `path`, with new message ids,
    loaded an hour after the latest load (a track's per-event row with it): rows per table."""
    import duckdb

    landed: dict[str, int] = {}
    con = duckdb.connect(str(path))
    try:
        tables = [t for (t,) in con.execute(
            "select table_name from information_schema.tables where table_schema = ?", [schema]
        ).fetchall()]  # fmt: skip
        later = con.execute(
            " union all ".join(f"select max(uuid_ts) from {schema}.{t}" for t in LOGS if t in tables)
        ).fetchall()
        loaded = max(v for (v,) in later if v is not None) + dt.timedelta(hours=1)
        for table in (t for t in LOGS if t in tables):
            con.execute(
                f"create temp table picked_{table} as select id from {schema}.{table} "
                f"using sample {growth * 100}% (bernoulli, {seed})"
            )
        # Per-event tables: those with `event` and `event_text`, apart from the loader's own.
        per_event = [
            t
            for (t,) in con.execute(
                "select table_name from information_schema.columns where table_schema = ? "
                "and column_name in ('event', 'event_text') group by 1 having count(*) = 2",
                [schema],
            ).fetchall()
            if t != "tracks"
        ]
        for table, picked in [(t, t) for t in LOGS if t in tables] + [(t, "tracks") for t in per_event]:
            con.execute(
                f"insert into {schema}.{table} select * replace (id || '.more' as id, ? as uuid_ts) "
                f"from {schema}.{table} where id in (select id from picked_{picked})",
                [loaded],
            )
            landed[table] = con.execute(
                f"select count(*) from {schema}.{table} where id like '%.more'"
            ).fetchall()[0][0]
    finally:
        con.close()
    return landed


def table_digest(settings: Settings, tables: tuple[str, ...]) -> dict[str, list[Any]]:
    """Rows and an order-free digest of each staged table, to compare two ways of staging one world."""
    from orchestration.warehouse.connection import open_read_only

    con = open_read_only(settings.build_db)
    try:
        return {
            table: list(
                con.execute(f"select count(*), sum(hash(t)) from (select * from {table}) as t").fetchall()[0]
            )
            for table in tables
        }
    finally:
        con.close()


def run_staging_benchmark(
    customers: int, seed: int, workdir: Path, repeat: int = 3, growth: float = 0.01
) -> dict[str, Any]:
    """Generate one world; stage its events `repeat` times through each path, alternating; medians. Then
    land `growth` more calls and stage them `repeat` times incrementally and restaged, alternating."""
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
    loader_database = segment_warehouse.demo_loader_database()
    assert loader_database is not None, "bench_settings are DuckDB's, whose demo writes a loader file"
    loader_file, events_schema = loader_database[1], LOADER_SHAPES["events"][1]
    spread_load_times(loader_file, events_schema)
    presets = workdir / "segment" / "presets.yml"
    write_presets_file(presets, ["events"], segment_warehouse.demo_loader_database())

    runs: dict[str, list[dict[str, float]]] = {"contract": [], "segment": []}
    for _ in range(repeat):
        with presets_file(None, contract):
            warehouse = get_warehouse(contract)
            warehouse.prepare_build()
            began = time.perf_counter()
            warehouse.load_raw(contract.raw_dir)
            load = time.perf_counter() - began
            run = _staging_run(contract)
            runs["contract"].append(
                {**run, "load_seconds": load, "total_seconds": load + run["wall_seconds"]}
            )
        with presets_file(presets, segment):
            warehouse = get_warehouse(segment)
            warehouse.prepare_build()
            warehouse.load_raw(segment.raw_dir)  # nothing but empty stand-ins: the events are in place
            run = _staging_run(segment)
            runs["segment"].append({**run, "load_seconds": 0.0, "total_seconds": run["wall_seconds"]})
    contract_rows = _staged_rows(contract)
    segment_rows = _staged_rows(segment)

    # The staged segment world takes in `growth` more calls: incrementally, and restaged whole.
    staged = workdir / "segment" / "staged.duckdb"
    shutil.copyfile(segment.build_db, staged)
    landed = land_more_calls(loader_file, events_schema, growth, seed)
    since_cutoff = _rows_loaded_since_cutoff(loader_file, events_schema, staged, lookback_hours())
    compared = ("base_events__tracks", "base_events__pages", "base_events__screens")
    digests: dict[str, dict[str, list[Any]]] = {}
    for _ in range(repeat):
        for way, restage in (("incremental", False), ("restaged", True)):
            shutil.copyfile(staged, segment.build_db)
            with presets_file(presets, segment), restaging_events(restage):
                run = _staging_run(segment)
            runs[f"segment_{way}"] = [*runs.get(f"segment_{way}", []), run]
            digests[way] = table_digest(segment, compared)

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
    figures["growth"] = growth
    figures["segment_rows_landed"] = landed
    figures["segment_rows_loaded_since_cutoff"] = since_cutoff
    figures["lookback_hours"] = lookback_hours()
    figures["segment_incremental"] = medians("segment_incremental")
    figures["segment_restaged"] = medians("segment_restaged")
    figures["incremental_over_restaged"] = round(
        figures["segment_incremental"]["wall_seconds"] / figures["segment_restaged"]["wall_seconds"], 3
    )
    figures["incremental_model_seconds_over_restaged"] = round(
        figures["segment_incremental"]["model_seconds"] / figures["segment_restaged"]["model_seconds"], 3
    )
    # Both ways stage the same rows: rows and an order-free digest of each incremental table.
    figures["incremental_equals_restaged"] = digests["incremental"] == digests["restaged"]
    figures["load_average"] = [round(x, 2) for x in os.getloadavg()]
    return figures
