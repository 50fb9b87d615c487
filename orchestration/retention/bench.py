"""Retention benchmark: fold and remove expired rows of a large synthetic page-view table (DuckDB)."""

from __future__ import annotations

import datetime as dt
import os
import shutil
import tempfile
import time
from pathlib import Path
from typing import Any

import duckdb

from orchestration.retention.config import Policy
from orchestration.retention.engine import DuckDBRunner, enforce, reapply_at_load

POLICY = {
    "source": "events",
    "table": "pages",
    "clock": "received_at",
    "keep_days": 396,
    "aggregate": {
        "group_by": ["anonymous_id", "user_id"],
        "measures": {
            "page_views": {"kind": "count"},
            "distinct_pages": {"kind": "count_distinct", "column": "path"},
            "visit_seconds": {"kind": "visit_seconds", "session_gap_minutes": 30},
            "first_seen_at": {"kind": "min", "column": "received_at"},
            "last_seen_at": {"kind": "max", "column": "received_at"},
        },
    },
}
AS_OF = dt.datetime(2026, 11, 1)


def _load(con: duckdb.DuckDBPyConnection, rows: int) -> None:
    """`rows` page views over the two years before AS_OF: visits of 10 views, 40 s apart, 5 visits
    per browser on random days, a third of them logged in."""
    con.execute("create schema if not exists raw_events")
    con.execute(
        f"""
        create or replace table raw_events.pages as
        select
            'anon_' || cast(i // 50 as varchar) as anonymous_id,
            case when (i // 50) % 3 = 0 then cast(i // 50 as varchar) end as user_id,
            '/p/' || cast(hash(i) % 500 as varchar) as path,
            timestamp '{AS_OF - dt.timedelta(days=730)}'
                + to_microseconds(cast(hash(i // 10) % (cast(730 as bigint) * 86400 * 1000000) as bigint))
                + to_microseconds(cast((i % 10) * 40 * 1000000 as bigint)) as received_at
        from range({rows}) as t(i)
        """
    )


def run_retention_benchmark(rows: int = 1_000_000, workdir: Path | None = None) -> dict[str, Any]:
    policy = Policy.model_validate(POLICY)
    folder = workdir or Path(tempfile.mkdtemp(prefix="tessera-bench-retention-"))
    try:
        con = duckdb.connect(str(folder / "bench.duckdb"))
        _load(con, rows)
        runner = DuckDBRunner(con)
        started = time.perf_counter()
        [first] = enforce(runner, [policy], as_of=AS_OF)
        enforce_seconds = time.perf_counter() - started
        _load(con, rows)
        started = time.perf_counter()
        [again] = reapply_at_load(runner, [policy])
        reload_seconds = time.perf_counter() - started
        aggregate_rows = con.execute("select count(*) from retained.events__pages_daily").fetchone()[0]  # type: ignore[index]
        folded = con.execute("select sum(page_views) from retained.events__pages_daily").fetchone()[0]  # type: ignore[index]
        con.close()
    finally:
        if workdir is None:
            shutil.rmtree(folder, ignore_errors=True)
    return {
        "benchmark": "retention",
        "cores": os.cpu_count(),
        "rows": rows,
        "rows_removed": first.rows_removed,
        "aggregate_rows": aggregate_rows,
        "enforce_seconds": round(enforce_seconds, 2),
        "reload_reapply_seconds": round(reload_seconds, 2),
        "rows_removed_again_at_reload": again.rows_removed,
        "aggregates_after_reload_equal_removed": folded == first.rows_removed,
        "rows_per_aggregate_row": round(first.rows_removed / max(aggregate_rows, 1), 1),
    }
