"""Connections and the writer lock, shared by every warehouse implementation and its callers."""

from __future__ import annotations

import contextlib
import fcntl
from collections.abc import Iterator
from pathlib import Path

import duckdb

from orchestration.settings import Settings


def open_file(path: Path, *, read_only: bool = False) -> duckdb.DuckDBPyConnection:
    """A connection to the DuckDB file at `path` as it is now.

    duckdb.connect(path) shares one database instance per path within a process, and an instance
    kept alive by any lingering reference still points at the file a publish has since renamed:
    writes meant for a new build would land in the published file. Attaching the file into a fresh
    in-memory database always opens the file that is at `path` now."""
    con = duckdb.connect()
    quoted = str(path).replace("'", "''")
    con.execute(f"attach '{quoted}' as warehouse{' (read_only)' if read_only else ''}")
    con.execute("use warehouse")
    return con


def open_read_only(path: Path) -> duckdb.DuckDBPyConnection:
    return open_file(path, read_only=True)


def file_columns(path: Path, schema: str, table: str) -> list[str]:
    """A table's column names in the DuckDB file at `path`, read-only ([] when there is no such table):
    a loader's own file, checked before a build attaches it."""
    con = open_read_only(path)
    try:
        return [
            name
            for (name,) in con.execute(
                "select column_name from information_schema.columns where table_catalog = 'warehouse' "
                "and table_schema = ? and table_name = ? order by ordinal_position",
                [schema, table],
            ).fetchall()
        ]
    finally:
        con.close()


@contextlib.contextmanager
def writer_lock(settings: Settings) -> Iterator[None]:
    """One writer at a time per warehouse: a second build waits here instead of corrupting the first."""
    settings.lock_path.parent.mkdir(parents=True, exist_ok=True)
    with open(settings.lock_path, "w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)
