"""The DuckDB sync store: the published file attached read-only for the diff, and state in a DuckDB file
of its own beside it (DuckDB allows one writer, and analysts read the published file). After a run a
read-only copy of the state file is published for analysts (`publish_state`)."""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Callable, Iterator
from pathlib import Path

import duckdb

from orchestration.sync.diff import WAREHOUSE_ALIAS, quote, sql_string
from orchestration.sync.errors import SyncConfigError
from orchestration.sync.state import SCHEMA, STATE_COLUMNS, StateStore, publish_state, state_table
from orchestration.sync.stores.base import ConditionFor, HeldRows, journal_without
from orchestration.warehouse.interface import SyncLocation

log = logging.getLogger(__name__)


class _AttachedTables:
    def __init__(self, conn: duckdb.DuckDBPyConnection) -> None:
        self.conn = conn

    def _relation(self, schema: str, table: str) -> str:
        return f"{WAREHOUSE_ALIAS}.{quote(schema)}.{quote(table)}"

    def columns(self, schema: str, table: str) -> list[str] | None:
        try:
            description = self.conn.execute(
                f"select * from {self._relation(schema, table)} limit 0"
            ).description
        except duckdb.CatalogException:
            return None
        return [column[0] for column in description]

    def relation(
        self, schema: str, table: str, columns: list[str], where: tuple[str, str] | None = None
    ) -> str:
        if where is None:
            return self._relation(schema, table)
        column, value = where
        return (
            f"(select * from {self._relation(schema, table)} "
            f"where {quote(column)} = {sql_string(value)}) as _sync_filtered"
        )


class DuckDBSource:
    """The published DuckDB file, attached read-only on the diff's connection while the diff runs."""

    def __init__(self, location: SyncLocation) -> None:
        self.path = Path(location.published)

    def exists(self) -> bool:
        return self.path.exists()

    def describe(self) -> str:
        return str(self.path)

    @contextlib.contextmanager
    def open(self, conn: duckdb.DuckDBPyConnection) -> Iterator[_AttachedTables]:
        if not self.path.exists():
            raise SyncConfigError(f"warehouse file {self.path} does not exist")
        conn.execute(f"attach {sql_string(str(self.path))} as {WAREHOUSE_ALIAS} (read_only)")
        try:
            yield _AttachedTables(conn)
        finally:
            conn.execute(f"detach database if exists {WAREHOUSE_ALIAS}")


class DuckDBStore(StateStore):
    """State in a DuckDB file; the diff runs on the same connection, so the state table is read in place."""

    def __init__(self, location: SyncLocation) -> None:
        super().__init__(location.state)
        self.history = Path(location.history) if location.history else None

    def diff_connection(self, sync_name: str) -> duckdb.DuckDBPyConnection:
        return self.conn

    def forget(
        self,
        keys: list[str],
        condition_for: ConditionFor,
        journal_terms: list[str],
        hold: Callable[[str, HeldRows], None],
    ) -> dict[str, int]:
        con = self.conn
        keys = list(keys)
        counts: dict[str, int] = {}
        for (table,) in con.execute(
            "select table_name from duckdb_tables() where database_name = current_database() "
            "and starts_with(table_name, 'state__') order by 1"
        ).fetchall():
            condition = condition_for(_columns(con, table)) or "false"
            where = f"key in (select unnest(?)) or ({condition})"
            rows = con.execute(
                f"select key, destination_id, payload from {table} where {where}", [keys]
            ).fetchall()
            if not rows:
                continue
            hold(table[len("state__") :], [(str(k), d, p) for k, d, p in rows])
            con.execute(f"delete from {table} where {where}", [keys])
            counts[table] = len(rows)
            keys.extend(str(k) for k, _, _ in rows if str(k) not in keys)
        sends = con.execute(
            "delete from sync_sends where key in (select unnest(?)) returning 1", [keys]
        ).fetchall()
        counts["sync_sends"] = len(sends)
        waiting = con.execute(
            "delete from sync_waiting where key in (select unnest(?)) returning 1", [keys]
        ).fetchall()
        counts["sync_waiting"] = len(waiting)
        condition = condition_for(_columns(con, "sync_record_log")) or "false"
        removed = con.execute(
            f"delete from sync_record_log where key in (select unnest(?)) or ({condition}) returning 1",
            [keys],
        ).fetchall()
        counts["sync_record_log"] = len(removed)
        wanted, journal_removed = set(keys), 0
        for idempotency_key, items in con.execute(
            "select idempotency_key, items from sync_journal"
        ).fetchall():
            kept, removed_here = journal_without(items, wanted, journal_terms)
            if not removed_here:
                continue
            journal_removed += removed_here
            if kept:
                import json

                con.execute(
                    "update sync_journal set items = ?, record_count = ? where idempotency_key = ?",
                    [json.dumps(kept, separators=(",", ":")), len(kept), idempotency_key],
                )
            else:
                con.execute("delete from sync_journal where idempotency_key = ?", [idempotency_key])
        counts["sync_journal"] = journal_removed
        con.execute("checkpoint")
        return counts


def _columns(con: duckdb.DuckDBPyConnection, table: str) -> list[tuple[str, str]]:
    return [
        (name, dtype)
        for name, dtype in con.execute(
            "select column_name, data_type from information_schema.columns where table_catalog = current_database() "
            "and table_schema = 'main' and table_name = ? order by ordinal_position",
            [table],
        ).fetchall()
    ]


@contextlib.contextmanager
def open_preview(location: SyncLocation, sync_name: str) -> Iterator[tuple[duckdb.DuckDBPyConnection, int]]:
    """For the dry run: a connection that reads the state file but can never write it, and the number
    of unconfirmed batches."""
    state = Path(location.state)
    conn = duckdb.connect()
    try:
        if state.exists():
            conn.execute(f"attach {sql_string(str(state))} as sync_state (read_only)")
            conn.execute("use sync_state")
        else:
            for statement in SCHEMA:
                conn.execute(statement)
        table = state_table(sync_name)
        exists = conn.execute(
            "select count(*) from duckdb_tables() where table_name = ? and database_name = current_database()",
            [table],
        ).fetchone()
        if not exists or not exists[0]:
            conn.execute(f"create temp table {table} ({STATE_COLUMNS})")
        pending = conn.execute(
            "select count(*) from sync_journal where sync_name = ?", [sync_name]
        ).fetchone()
        yield conn, pending[0] if pending else 0
    finally:
        conn.close()


def publish_history(location: SyncLocation) -> None:
    """Give analysts a read-only copy of the state file (when the location names one)."""
    if location.history:
        publish_state(location.state, location.history)


def state_files(location: SyncLocation) -> list[Path]:
    """Files holding sync state (rewritten after an erasure, so deleted values leave the file's bytes)."""
    return [Path(location.state)]


def state_exists(location: SyncLocation) -> bool:
    return Path(location.state).exists()


def state_schemas(location: SyncLocation) -> list[str]:
    """None: the state is a file (scanned as one)."""
    return []


def record_history(location: SyncLocation, key: str, limit: int) -> list[tuple]:
    """The latest sync_record_log rows of one key, newest first, from the analysts' read-only copy
    (so a running sync is never blocked); none before a sync has run."""
    if not location.history or not Path(location.history).exists():
        return []
    from orchestration.warehouse.connection import open_read_only

    con = open_read_only(Path(location.history))
    try:
        return con.execute(
            "select logged_at, sync_name, operation, status, error from sync_record_log "
            "where key = ? order by logged_at desc, sync_name limit ?",
            [key, int(limit)],
        ).fetchall()
    except duckdb.CatalogException:
        return []
    finally:
        con.close()
