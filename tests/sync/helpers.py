"""Test support for the sync engine: a tiny warehouse, a fake clock, and sync configs built in code."""

from __future__ import annotations

import base64
import tempfile
from pathlib import Path
from typing import Any

import duckdb
import psycopg2
import pyarrow as pa

from orchestration.sync.config import SyncConfig, parse_syncs
from orchestration.warehouse.interface import SyncLocation
from orchestration.warehouse.load import pg_type

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
    path: Path | SyncLocation,
    rows: list[dict[str, Any]],
    *,
    table: str = "audience",
    schema: pa.Schema | None = None,
) -> Path | SyncLocation:
    """(Re)write a one-table DuckDB warehouse file, or a table of a Postgres published schema, as a
    published build would."""
    data = pa.Table.from_pylist(rows, schema=schema) if rows or schema else None
    if isinstance(path, SyncLocation):
        _write_postgres(path, data, table)
        return path
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


EMPTY_AUDIENCE = pa.schema(
    [
        ("customer_id", pa.string()),
        ("email", pa.string()),
        ("phone", pa.string()),
        ("first_name", pa.string()),
        ("score", pa.int32()),
        ("has_consent_email_marketing", pa.bool_()),
    ]
)


def _write_postgres(location: SyncLocation, data: pa.Table | None, table: str) -> None:
    """Replace <published schema>.<table> with `data` (typed as the Postgres load types Arrow)."""
    data = data if data is not None else EMPTY_AUDIENCE.empty_table()
    schema = f'"{location.published}"'
    ddl = ", ".join(f'"{f.name}" {pg_type(f.type)}' for f in data.schema)
    with tempfile.TemporaryDirectory() as folder:
        csv = Path(folder) / "rows.csv"
        local = duckdb.connect()
        try:
            local.register("_rows", data)
            local.execute(f"copy (select * from _rows) to '{csv}' (header false, nullstr '\\N')")
        finally:
            local.close()
        with (
            psycopg2.connect(**location.connect) as conn,
            conn.cursor() as cur,
            open(csv, encoding="utf-8") as fh,
        ):
            cur.execute(f"create schema if not exists {schema}")
            cur.execute(f'drop table if exists {schema}."{table}"')
            cur.execute(f'create table {schema}."{table}" ({ddl})')
            cur.copy_expert(f"copy {schema}.\"{table}\" from stdin with (format csv, null '\\N')", fh)
        conn.close()


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


def state_rows(state_path: Path | SyncLocation, sync_name: str = "test_sync") -> dict[str, dict[str, Any]]:
    if isinstance(state_path, SyncLocation):
        names, found = _pg_query(state_path, f"select * from state__{sync_name}")
        return {row[0]: dict(zip(names, row, strict=True)) for row in found}
    conn = duckdb.connect(str(state_path), read_only=True)
    try:
        cursor = conn.execute(f"select * from state__{sync_name}")
        names = [column[0] for column in cursor.description]
        return {row[0]: dict(zip(names, row, strict=True)) for row in cursor.fetchall()}
    finally:
        conn.close()


def _pg_query(
    location: SyncLocation, sql: str, params: list[Any] | None = None
) -> tuple[list[str], list[tuple[Any, ...]]]:
    with psycopg2.connect(**location.connect) as conn, conn.cursor() as cur:
        cur.execute(f'set search_path to "{location.state}"')
        cur.execute(sql.replace("?", "%s"), params or None)
        names = [column[0] for column in cur.description or []]
        found = cur.fetchall() if cur.description else []
    conn.close()
    return names, found


def query(
    state_path: Path | SyncLocation, sql: str, params: list[Any] | None = None
) -> list[tuple[Any, ...]]:
    """Run SQL on the sync state (read-only use: DuckDB opens the file read-only)."""
    if isinstance(state_path, SyncLocation):
        return _pg_query(state_path, sql, params)[1]
    conn = duckdb.connect(str(state_path), read_only=True)
    try:
        return conn.execute(sql, params or []).fetchall()
    finally:
        conn.close()


def execute(state_path: Path | SyncLocation, sql: str) -> None:
    """Change the sync state behind the engine's back (as a crash or a person would)."""
    if isinstance(state_path, SyncLocation):
        _pg_query(state_path, sql)
        return
    conn = duckdb.connect(str(state_path))
    try:
        conn.execute(sql)
    finally:
        conn.close()


def state_exists(state_path: Path | SyncLocation) -> bool:
    """Whether anything of the sync state was ever written (the file, or the state schema)."""
    if isinstance(state_path, SyncLocation):
        found = _pg_query(
            state_path, "select 1 from information_schema.schemata where schema_name = ?", [state_path.state]
        )[1]
        return bool(found)
    return state_path.exists()


def state_snapshot(state_path: Path | SyncLocation) -> Any:
    """Everything the sync state holds: the file's bytes, or every row of every table of the state schema."""
    if isinstance(state_path, SyncLocation):
        tables = _pg_query(
            state_path,
            "select table_name from information_schema.tables where table_schema = ? order by 1",
            [state_path.state],
        )[1]
        return {
            table: sorted(map(repr, _pg_query(state_path, f'select * from "{table}"')[1]))
            for (table,) in tables
        }
    return state_path.read_bytes()
