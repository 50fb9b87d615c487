"""Test support for the sync engine: a tiny warehouse, a fake clock, and sync configs built in code."""

from __future__ import annotations

import base64
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa

from orchestration.sync.config import SyncConfig, parse_syncs

WEBHOOK_SECRET = "whsec_" + base64.b64encode(b"tessera-test-secret-0123456789ab").decode()


class FakeClock:
    """Time that only moves when someone sleeps: backoff and Retry-After cost nothing, and are recorded."""

    def __init__(self) -> None:
        self.t = 1_000.0
        self.sleeps: list[float] = []

    def now(self) -> float:
        return self.t

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.t += max(0.0, seconds)


def write_warehouse(
    path: Path, rows: list[dict[str, Any]], *, table: str = "audience", schema: pa.Schema | None = None
) -> Path:
    """(Re)write a one-table DuckDB warehouse file, as a published build would."""
    data = pa.Table.from_pylist(rows, schema=schema) if rows or schema else None
    conn = duckdb.connect(str(path))
    try:
        if data is None:
            conn.execute(
                f"create or replace table {table} (customer_id varchar, email varchar, phone varchar, "
                "first_name varchar, score integer, has_consent_email_marketing boolean)"
            )
        else:
            conn.register("_rows", data)
            conn.execute(f"create or replace table {table} as select * from _rows")
            conn.unregister("_rows")
    finally:
        conn.close()
    return path


def people(
    count: int, *, start: int = 0, consent: bool | None = True, **overrides: Any
) -> list[dict[str, Any]]:
    rows = []
    for i in range(start, start + count):
        row = {
            "customer_id": f"c{i:05d}",
            "email": f"Person.{i}@Example.com ",
            "phone": f"+1 415 555 {i % 10000:04d}",
            "first_name": f"Name{i}",
            "score": i,
            "has_consent_email_marketing": consent,
        }
        row.update(overrides)
        rows.append(row)
    return rows


def make_config(
    destination: dict[str, Any],
    *,
    mapping: dict[str, str],
    mode: str = "upsert",
    name: str = "test_sync",
    consent_purpose: str | None = "email_marketing",
    limits: dict[str, Any] | None = None,
    model: str = "audience",
    primary_key: str = "customer_id",
) -> SyncConfig:
    sync: dict[str, Any] = {
        "name": name,
        "source": {"model": model, "primary_key": primary_key},
        "destination": destination,
        "mode": mode,
        "mapping": mapping,
        "schedule": "0 * * * *",
        "consent_purpose": consent_purpose,
    }
    if limits:
        sync["limits"] = limits
    return parse_syncs({"syncs": [sync]})[0]


def state_rows(state_path: Path, sync_name: str = "test_sync") -> dict[str, dict[str, Any]]:
    conn = duckdb.connect(str(state_path), read_only=True)
    try:
        cursor = conn.execute(f"select * from state__{sync_name}")
        names = [column[0] for column in cursor.description]
        return {row[0]: dict(zip(names, row, strict=True)) for row in cursor.fetchall()}
    finally:
        conn.close()


def query(state_path: Path, sql: str, params: list[Any] | None = None) -> list[tuple[Any, ...]]:
    conn = duckdb.connect(str(state_path), read_only=True)
    try:
        return conn.execute(sql, params or []).fetchall()
    finally:
        conn.close()
