"""Scoring outside dbt, for warehouses whose dbt adapter runs no Python models (Postgres).

On DuckDB, int_customer_features_scored is a dbt Python model and one `dbt build` does everything.
Elsewhere the build runs in two dbt invocations around this step: first everything except the
scores and their descendants, then `score_outside_dbt` reads the feature snapshots from the build
schema, runs the same `score_features`, and writes int_customer_features_scored__python, and then
the second invocation builds the scores model (a copy of that table) and everything downstream.
"""

from __future__ import annotations

import logging
import tempfile
import time
from typing import Any

import duckdb
import pyarrow as pa

from orchestration.predictions.scoring import score_features
from orchestration.settings import Settings
from orchestration.warehouse import PostgresWarehouse, _pg_type

log = logging.getLogger(__name__)

FEATURES_MODEL = "int_customer_features_snapshotted"
SCORES_MODEL = "int_customer_features_scored"
WRITTEN_TABLE = f"{SCORES_MODEL}__python"


def needs_scoring_step(settings: Settings) -> bool:
    return settings.target != "duckdb"


def dbt_build_phases(settings: Settings, manifest: dict[str, Any] | None = None) -> list[list[str]]:
    """The selection arguments of each `dbt build` invocation, in order; the scoring step runs
    between consecutive invocations.

    Under Dagster pass the manifest: dagster-dbt adds its own `--select` for the run's assets, which
    overrides a second `--select`, but keeps every `--exclude`. So the second invocation there
    excludes, by name, every node that is not the scores model or downstream of it."""
    if not needs_scoring_step(settings):
        return [[]]
    first = ["--exclude", f"{SCORES_MODEL}+"]
    if manifest is None:
        return [first, ["--select", f"{SCORES_MODEL}+"]]
    # One space-separated value: dagster-dbt reads a single value after --exclude.
    return [first, ["--exclude", " ".join(sorted(_nodes_outside_scores(manifest)))]]


def _nodes_outside_scores(manifest: dict[str, Any]) -> set[str]:
    children = manifest["child_map"]
    start = f"model.{manifest['metadata'].get('project_name', 'tessera')}.{SCORES_MODEL}"
    downstream, stack = {start}, [start]
    while stack:
        for child in children.get(stack.pop(), []):
            if child not in downstream:
                downstream.add(child)
                stack.append(child)
    runnable = {**manifest.get("nodes", {}), **manifest.get("unit_tests", {})}
    return {
        node["name"]
        for unique_id, node in runnable.items()
        if unique_id not in downstream and node.get("resource_type") != "analysis"
    }


def score_outside_dbt(settings: Settings) -> dict[str, Any]:
    """Read the feature snapshots from the build schema, score them, write the scores table."""
    started = time.monotonic()
    warehouse = PostgresWarehouse(settings)
    schema = settings.postgres.build_schema
    with warehouse.connect() as con, con.cursor() as cur:
        cur.execute(
            "select 1 from information_schema.tables where table_schema = %s and table_name = %s",
            (schema, FEATURES_MODEL),
        )
        if cur.fetchone() is None:
            raise RuntimeError(
                f"{schema}.{FEATURES_MODEL} does not exist: the first dbt invocation did not build the feature snapshots"
            )
        cur.execute(f'select * from "{schema}"."{FEATURES_MODEL}"')
        names = [d[0] for d in cur.description]
        rows = cur.fetchall()
    columns = list(zip(*rows, strict=True)) if rows else [() for _ in names]
    features = pa.table({name: _column(values) for name, values in zip(names, columns, strict=True)})
    read_seconds = time.monotonic() - started
    scored = score_features(features)
    write_scores(settings, scored)
    seconds = time.monotonic() - started
    log.info("scored %d rows outside dbt in %.1f s (read %.1f s)", scored.num_rows, seconds, read_seconds)
    return {"rows": scored.num_rows, "seconds": seconds}


def _column(values: tuple) -> pa.Array:
    from decimal import Decimal

    if any(isinstance(v, Decimal) for v in values):
        return pa.array([None if v is None else float(v) for v in values], type=pa.float64())
    return pa.array(list(values))


def write_scores(settings: Settings, scored: pa.Table) -> None:
    """Replace <build schema>.int_customer_features_scored__python with `scored`, in one transaction."""
    schema = settings.postgres.build_schema
    target = f'"{schema}"."{WRITTEN_TABLE}"'
    ddl = ", ".join(f'"{f.name}" {_pg_type(f.type)}' for f in scored.schema)
    names = ", ".join(f'"{f.name}"' for f in scored.schema)
    with tempfile.NamedTemporaryFile(suffix=".csv") as tmp:
        con = duckdb.connect()
        con.register("scored", scored)
        con.execute(
            f"copy (select {names} from scored) to '{tmp.name}' "
            "(header false, nullstr '\\N', timestampformat '%Y-%m-%d %H:%M:%S.%f')"
        )
        con.close()
        with PostgresWarehouse(settings).connect() as pg, pg.cursor() as cur:
            cur.execute(f"drop table if exists {target}")
            cur.execute(f"create table {target} ({ddl})")
            with open(tmp.name) as handle:
                cur.copy_expert(f"copy {target} ({names}) from stdin with (format csv, null '\\N')", handle)


def drop_written_scores(settings: Settings) -> None:
    """The scores model has copied the table; it is not published."""
    if not needs_scoring_step(settings):
        return
    with PostgresWarehouse(settings).connect() as con, con.cursor() as cur:
        cur.execute(f'drop table if exists "{settings.postgres.build_schema}"."{WRITTEN_TABLE}"')


def failed_step_result(error: BaseException) -> dict[str, str]:
    """A run_results entry for a failed scoring step, so the audit blocks publishing and says why."""
    return {
        "unique_id": f"model.tessera.{SCORES_MODEL}",
        "status": "error",
        "message": f"scoring outside dbt failed: {type(error).__name__}: {error}",
    }
