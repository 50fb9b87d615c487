"""The `retained` sources on Spark without a cluster (docs/spark.md, "What a whole build needed"): the load
creates the retention engine's tables, empty, typed as the engine types them on DuckDB, and leaves a table
that exists alone. tests/test_spark.py builds their staging on a real cluster (TESSERA_TEST_SPARK=1)."""

from __future__ import annotations

import datetime as dt
import re

import pyarrow as pa
import pyarrow.parquet as pq

from orchestration.settings import Settings
from orchestration.warehouse.spark import SparkSettings, SparkWarehouse


class Recording:
    """A cursor that records every statement and answers none."""

    def __init__(self) -> None:
        self.statements: list[str] = []

    def execute(self, sql: str) -> None:
        self.statements.append(" ".join(sql.split()))


def _raw(tmp_path):
    """The two raw tables the project's retention policies name, one row each, and one no policy names."""
    at = dt.datetime(2026, 1, 1, 12)
    tables = {
        ("events", "pages"): {
            "message_id": ["m1"],
            "anonymous_id": ["a1"],
            "user_id": ["u1"],
            "path": ["/"],
            "received_at": [at],
        },
        ("events", "tracks"): {
            "message_id": ["m2"],
            "anonymous_id": ["a1"],
            "user_id": ["u1"],
            "event": ["product_viewed"],
            "product_id": ["p1"],
            "revenue": [1.5],
            "received_at": [at],
        },
        ("crm", "contacts"): {"contact_id": ["c1"]},
    }
    files = []
    for (source, table), columns in tables.items():
        path = tmp_path / "raw" / source / f"{table}.parquet"
        path.parent.mkdir(parents=True, exist_ok=True)
        pq.write_table(pa.table(columns), path)
        files.append((source, table, path))
    return files


def test_the_load_creates_the_retained_tables_empty_and_typed(tmp_path):
    warehouse = SparkWarehouse(Settings.from_env({}), SparkSettings.from_env({}))
    cursor = Recording()
    warehouse._ensure_retained(cursor, _raw(tmp_path))
    assert cursor.statements[0] == "create database if not exists `retained`"
    created = {
        match.group(1): dict(re.findall(r"`(\w+)` (\w+)", match.group(2)))
        for match in (
            re.fullmatch(r"create table if not exists `retained`\.`(\w+)` \((.*)\) using parquet", sql)
            for sql in cursor.statements[1:]
        )
        if match
    }
    assert len(created) == len(cursor.statements) - 1, cursor.statements
    assert set(created) == {"events__pages_daily", "events__tracks_daily", "retention_runs"}
    # The columns staging/retained reads, with the types the engine's aggregate gives them.
    assert created["events__pages_daily"] == {
        "activity_date": "date",
        "anonymous_id": "string",
        "user_id": "string",
        "source_rows": "bigint",
        "page_views": "bigint",
        "distinct_pages": "bigint",
        "visit_seconds": "double",
        "first_seen_at": "timestamp",
        "last_seen_at": "timestamp",
        "aggregated_at": "timestamp",
    }
    assert created["events__tracks_daily"]["revenue"] == "double"
    assert created["events__tracks_daily"]["orders_completed"] == "bigint"
    assert created["retention_runs"]["is_dry_run"] == "boolean"
    assert created["retention_runs"]["ran_at"] == "timestamp"
    assert not any(sql.startswith(("drop", "insert")) for sql in cursor.statements)


def test_without_the_raw_tables_only_the_log_is_created(tmp_path):
    """As ensure_tables does: an aggregate table waits until its raw table is loaded."""
    warehouse = SparkWarehouse(Settings.from_env({}), SparkSettings.from_env({}))
    cursor = Recording()
    warehouse._ensure_retained(cursor, [f for f in _raw(tmp_path) if f[0] == "crm"])
    assert cursor.statements[1:] and all("`retention_runs`" in sql for sql in cursor.statements[1:])
