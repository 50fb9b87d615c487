"""Rewriting files so that deleted data is gone from their bytes too: DuckDB files and raw landing files."""

from __future__ import annotations

import logging
import os
from collections.abc import Collection
from pathlib import Path

import duckdb

from orchestration.privacy.scan import count_matches, match_condition
from orchestration.warehouse.files import written_aside

log = logging.getLogger(__name__)


def _sql_path(path: Path) -> str:
    return str(path).replace("'", "''")


def _copy_into_fresh_file(con: duckdb.DuckDBPyConnection, alias: str, path: Path, option: str = "") -> Path:
    """Copy the database attached to `con` as `alias` into a fresh file beside `path` (`COPY FROM
    DATABASE`, attached with `option`); returns the fresh file, which the caller renames into place.

    DELETE marks rows deleted and CHECKPOINT reuses their blocks later, but until then the old values
    stay in the file's free blocks. A fresh file holds only live rows. A failed copy leaves nothing."""
    fresh = path.with_name(f".{path.name}.compact")
    for stale in (fresh, fresh.with_name(fresh.name + ".wal")):
        stale.unlink(missing_ok=True)
    try:
        con.execute(f"attach '{_sql_path(fresh)}' as fresh_db{option}")
        try:
            con.execute(f"copy from database {alias} to fresh_db")
            con.execute("checkpoint fresh_db")
        finally:
            con.execute("detach fresh_db")
    except BaseException:
        for left in (fresh, fresh.with_name(fresh.name + ".wal")):
            left.unlink(missing_ok=True)
        raise
    return fresh


def compact_duckdb(path: Path) -> None:
    """Rewrite a DuckDB file into a fresh one and rename it into place (_copy_into_fresh_file says why).
    The file must not be open elsewhere (the caller holds the writer lock or the sync state's lock)."""
    con = duckdb.connect()
    try:
        con.execute(f"attach '{_sql_path(path)}' as source_db (read_only)")
        fresh = _copy_into_fresh_file(con, "source_db", path)
        con.execute("detach source_db")
    finally:
        con.close()
    os.replace(fresh, path)
    path.with_name(path.name + ".wal").unlink(missing_ok=True)


def rewrite_duckdb_in_place(con: duckdb.DuckDBPyConnection, path: Path) -> None:
    """compact_duckdb for a file someone else writes (a loader's own database file): `con` holds it
    open (read-write, attached as `warehouse`, orchestration/warehouse/connection.py) for the whole rewrite,
    so no other process can write to it meanwhile and have its write lost in the rename. The fresh file
    keeps the old one's storage version (a loader on an older DuckDB must still open it), its permission
    bits and, where this process may set them, its owner and group."""
    (tags,) = con.execute(  # type: ignore[misc]
        "select tags from duckdb_databases() where database_name = 'warehouse'"
    ).fetchone()
    version = str((tags or {}).get("storage_version") or "").rstrip("+")
    option = f" (storage_version '{version}')" if version.startswith("v") else ""
    con.execute("checkpoint warehouse")
    fresh = _copy_into_fresh_file(con, "warehouse", path, option)
    try:
        stat = path.stat()
        os.chmod(fresh, stat.st_mode & 0o7777)
        try:
            os.chown(fresh, stat.st_uid, stat.st_gid)
        except PermissionError:
            log.warning("the rewritten %s keeps this process's owner: it may not change it", path.name)
        os.replace(fresh, path)
    finally:
        fresh.unlink(missing_ok=True)


def _parquet_columns(con: duckdb.DuckDBPyConnection, path: Path) -> list[tuple[str, str]]:
    return [
        (name, dtype)
        for name, dtype, *_ in con.execute(
            f"describe select * from read_parquet('{_sql_path(path)}')"
        ).fetchall()
    ]


def parquet_condition(
    con: duckdb.DuckDBPyConnection,
    path: Path,
    terms: list[str],
    id_column: str | None,
    ids: list[str],
    id_columns: Collection[str] | None = None,
) -> str | None:
    """SQL over read_parquet(path) that is true for the person's rows: their record ids, or any term (exact
    terms in `id_columns` only, when given: a raw landing file's identifier columns, id_columns.py)."""
    columns = _parquet_columns(con, path)
    parts = []
    condition = match_condition(columns, terms, id_columns)
    if condition:
        parts.append(condition)
    if id_column and ids and id_column in {name for name, _ in columns}:
        quoted = ", ".join("'" + str(i).replace("'", "''") + "'" for i in ids)
        parts.append(f'cast("{id_column}" as varchar) in ({quoted})')
    return " or ".join(f"({p})" for p in parts) if parts else None


def rewrite_parquet_without(
    path: Path,
    terms: list[str],
    id_column: str | None = None,
    ids: list[str] | None = None,
    id_columns: Collection[str] | None = None,
) -> int:
    """Rewrite one Parquet file without the person's rows; returns how many rows were removed."""
    con = duckdb.connect()
    try:
        condition = parquet_condition(con, path, terms, id_column, ids or [], id_columns)
        if condition is None:
            return 0
        source = f"read_parquet('{_sql_path(path)}')"
        (hits,) = con.execute(f"select count(*) from {source} where {condition}").fetchone()  # type: ignore[misc]
        if not hits:
            return 0
        with written_aside(path) as tmp:
            con.execute(
                f"copy (select * from {source} where not coalesce(({condition}), false)) "
                f"to '{_sql_path(tmp)}' (format parquet)"
            )
    finally:
        con.close()
    log.info("removed %d rows from %s", hits, path)
    return int(hits)


def scan_parquet(path: Path, terms: list[str], id_columns: Collection[str] | None = None) -> tuple[int, int]:
    """(rows holding a term, rows where only a non-identifier column equals an exact term) of one file."""
    con = duckdb.connect()
    try:
        columns = _parquet_columns(con, path)
        _, hits, outside = count_matches(
            con, f"read_parquet('{_sql_path(path)}')", columns, terms, id_columns
        )
        return hits, outside
    finally:
        con.close()
