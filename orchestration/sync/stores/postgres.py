"""The Postgres sync store: the source is read from the published schema, and state and history live in a
schema of their own, `<published schema>_sync`, which publishes never rename or drop.

The diff itself stays DuckDB SQL (orchestration/sync/diff.py), so payloads, hashes and counts are the same
on every warehouse: for a run, the mapped columns of the source model and the sync's state table are
streamed out of Postgres (COPY, in one read-only snapshot for the source) into an in-memory DuckDB
connection. Everything the engine writes (state, journal, runs, record log) goes to Postgres, one
transaction per confirmed batch, exactly as the DuckDB store commits it. One run per state schema at a
time: a session advisory lock on the schema enforces it, as DuckDB's file lock does for the state file."""

from __future__ import annotations

import contextlib
import json
import logging
import tempfile
import time
from collections.abc import Callable, Iterator
from datetime import datetime
from typing import Any

import duckdb
import psycopg2
import psycopg2.extras

from orchestration.sync.destinations.base import DELETE_OPERATIONS
from orchestration.sync.diff import quote, sql_string
from orchestration.sync.errors import SyncConfigError
from orchestration.sync.redact import redact
from orchestration.sync.state import (
    SCHEMA,
    STATE_COLUMNS,
    Outcome,
    PendingBatch,
    RunRow,
    channel_sends_sql,
    newly_held_out_sql,
    record_held_out_sql,
    record_refused_sql,
    record_removed_sql,
    record_sent_sql,
    released_holdouts_sql,
    restored_holdouts_sql,
    state_table,
    utcnow,
)
from orchestration.sync.stores.base import ConditionFor, HeldRows, iter_chunks, journal_without
from orchestration.warehouse.interface import SyncLocation
from orchestration.warehouse.types import POSTGRES_TO_DUCKDB_TYPES

log = logging.getLogger(__name__)

WAREHOUSE_SCHEMAS = ("main", "tessera_audit")
STATE_TYPES = {
    "key": "varchar",
    "payload_hash": "varchar",
    "payload": "varchar",
    "destination_id": "varchar",
    "status": "varchar",
    "attempts": "integer",
    "attempted_hash": "varchar",
    "last_error": "varchar",
    "last_sent_at": "timestamp",
}


SENDS_TYPES = {
    "channel": "varchar",
    "key": "varchar",
    "sync_name": "varchar",
    "run_id": "varchar",
    "sent_at": "timestamp",
}


def _q(sql: str) -> str:
    """The engine's `?` placeholders as psycopg2's."""
    return sql.replace("?", "%s")


def _session(conn: Any) -> None:
    with conn.cursor() as cur:
        cur.execute("set client_encoding to 'UTF8'")
        cur.execute("set datestyle to 'ISO, YMD'")
        cur.execute("set timezone to 'UTC'")


def copy_into_duckdb(
    cur: Any, select_sql: str, duck: duckdb.DuckDBPyConnection, target: str, types: dict[str, str]
) -> None:
    """Stream a Postgres query (COPY, CSV) into the DuckDB temp table `target`, typed as `types` says.

    Only an unquoted \\N is null; a quoted one, or an empty string, is a value."""
    with tempfile.NamedTemporaryFile(suffix=".csv") as tmp:
        with open(tmp.name, "w", encoding="utf-8") as handle:
            cur.copy_expert(f"copy ({select_sql}) to stdout with (format csv, null '\\N')", handle)
        columns = ", ".join(f"{sql_string(name)}: {sql_string(dtype)}" for name, dtype in types.items())
        duck.execute(
            f"create or replace temp table {quote(target)} as select * from read_csv({sql_string(tmp.name)}, "
            f"columns = {{{columns}}}, header = false, auto_detect = false, nullstr = '\\N', "
            "allow_quoted_nulls = false, quote = '\"', escape = '\"')"
        )


class _PostgresTables:
    def __init__(self, cur: Any, duck: duckdb.DuckDBPyConnection, published: str) -> None:
        self.cur = cur
        self.duck = duck
        self.published = published
        self.copied: list[str] = []

    def _schema(self, schema: str) -> str:
        # The DuckDB warehouse file's own schemas (`main`: the models, `tessera_audit`: what the build
        # recorded, e.g. raw schema drift) are all the published schema on Postgres.
        return self.published if schema in WAREHOUSE_SCHEMAS else schema

    def _types(self, schema: str, table: str) -> dict[str, str]:
        self.cur.execute(
            "select column_name, data_type from information_schema.columns "
            "where table_schema = %s and table_name = %s order by ordinal_position",
            (self._schema(schema), table),
        )
        return dict(self.cur.fetchall())

    def columns(self, schema: str, table: str) -> list[str] | None:
        return list(self._types(schema, table)) or None

    def relation(
        self, schema: str, table: str, columns: list[str], where: tuple[str, str] | None = None
    ) -> str:
        declared = self._types(schema, table)
        if not declared:
            raise SyncConfigError(f"{self._schema(schema)}.{table} is not in the published schema")
        wanted = [name for name in dict.fromkeys(columns) if name in declared]
        selects = [
            quote(name)
            if declared[name] in POSTGRES_TO_DUCKDB_TYPES
            else f"cast({quote(name)} as text) as {quote(name)}"
            for name in wanted
        ]
        types = {name: POSTGRES_TO_DUCKDB_TYPES.get(declared[name], "varchar") for name in wanted}
        target = f"_sync_src_{len(self.copied)}"
        # Only the rows asked for leave Postgres (an audience source reads one audience's members).
        condition = f" where {quote(where[0])} = {sql_string(where[1])}" if where is not None else ""
        copy_into_duckdb(
            self.cur,
            f"select {', '.join(selects)} from {quote(self._schema(schema))}.{quote(table)}{condition}",
            self.duck,
            target,
            types,
        )
        self.copied.append(target)
        return quote(target)


class PostgresSource:
    """The published schema, read in one read-only repeatable-read snapshot per diff."""

    def __init__(self, location: SyncLocation) -> None:
        self.location = location

    def exists(self) -> bool:
        try:
            conn = psycopg2.connect(**self.location.connect)
        except psycopg2.OperationalError:
            return False
        try:
            with conn.cursor() as cur:
                cur.execute(
                    "select 1 from information_schema.schemata where schema_name = %s",
                    (self.location.published,),
                )
                return cur.fetchone() is not None
        finally:
            conn.close()

    def describe(self) -> str:
        connect = self.location.connect
        return f"postgres://{connect.get('host')}:{connect.get('port')}/{connect.get('dbname')} schema {self.location.published}"

    @contextlib.contextmanager
    def open(self, conn: duckdb.DuckDBPyConnection) -> Iterator[_PostgresTables]:
        pg = psycopg2.connect(**self.location.connect)
        tables: _PostgresTables | None = None
        try:
            _session(pg)
            pg.commit()
            pg.set_session(isolation_level="REPEATABLE READ", readonly=True)
            with pg.cursor() as cur:
                tables = _PostgresTables(cur, conn, self.location.published)
                yield tables
        finally:
            pg.rollback()
            pg.close()
            for name in tables.copied if tables else []:
                conn.execute(f"drop table if exists {quote(name)}")


def _connect_state(location: SyncLocation) -> Any:
    conn = psycopg2.connect(**location.connect)
    _session(conn)
    conn.commit()
    return conn


def _copy_state(cur: Any, schema: str, sync_name: str, duck: duckdb.DuckDBPyConnection) -> None:
    """The sync's committed state as the temp table `state__<name>` on `duck` (empty when none yet)."""
    table = state_table(sync_name)
    cur.execute(
        "select 1 from information_schema.tables where table_schema = %s and table_name = %s", (schema, table)
    )
    if cur.fetchone() is None:
        duck.execute(f"create or replace temp table {table} ({STATE_COLUMNS})")
        return
    names = ", ".join(quote(name) for name in STATE_TYPES)
    copy_into_duckdb(cur, f"select {names} from {quote(schema)}.{table}", duck, table, STATE_TYPES)


class PostgresStore:
    """State, journal, runs and record log in the schema `location.state`."""

    LOCK_WAIT_SECONDS = 5.0

    def __init__(self, location: SyncLocation) -> None:
        self.schema = location.state
        self._lock_key = f"tessera_sync:{self.schema}"
        self.conn = _connect_state(location)
        try:
            with self.conn.cursor() as cur:
                if not self._take_lock(cur):
                    raise RuntimeError(f"the sync state schema {self.schema} is in use by another process")
                cur.execute(f"create schema if not exists {quote(self.schema)}")
                cur.execute(f"set search_path to {quote(self.schema)}")
                for statement in SCHEMA:
                    cur.execute(statement)
            self.conn.commit()
        except BaseException:
            self.conn.close()
            raise
        self.duck = duckdb.connect()

    def _take_lock(self, cur: Any) -> bool:
        """The schema's advisory lock, waiting up to LOCK_WAIT_SECONDS: a killed run's backend lets go of
        it only once it notices its client is gone, a moment after the process died."""
        deadline = time.monotonic() + self.LOCK_WAIT_SECONDS
        while True:
            cur.execute("select pg_try_advisory_lock(hashtext(%s))", (self._lock_key,))
            row = cur.fetchone()
            if row and row[0]:
                return True
            if time.monotonic() >= deadline:
                return False
            time.sleep(0.1)

    # the diff

    def ensure_sync(self, sync_name: str) -> str:
        table = state_table(sync_name)
        self._run(f"create table if not exists {table} ({STATE_COLUMNS})")
        return table

    def diff_connection(self, sync_name: str) -> duckdb.DuckDBPyConnection:
        try:
            with self.conn.cursor() as cur:
                _copy_state(cur, self.schema, sync_name, self.duck)
        finally:
            self.conn.rollback()  # only read: the session stays usable whatever happened
        return self.duck

    def _run(self, sql: str, params: Any = None) -> list[tuple[Any, ...]]:
        with self.conn.cursor() as cur:
            try:
                cur.execute(sql, params)
                rows = cur.fetchall() if cur.description else []
            except BaseException:
                self.conn.rollback()
                raise
        self.conn.commit()
        return rows

    # run history

    def mark_interrupted(self, sync_name: str) -> int:
        rows = self._run(
            "update sync_runs set status = 'interrupted', finished_at = coalesce(finished_at, %s) "
            "where sync_name = %s and status = 'running' returning run_id",
            (utcnow(), sync_name),
        )
        return len(rows)

    def start_run(self, run: RunRow) -> None:
        self._run(*run.insert_statement("%s"))

    def finish_run(self, run: RunRow) -> None:
        self._run(*run.finish_statement("%s"))

    def last_released_run(self, sync_name: str) -> datetime | None:
        rows = self._run(
            "select max(started_at) from sync_runs where sync_name = %s and status in ('success', 'partial')",
            (sync_name,),
        )
        return rows[0][0] if rows else None

    # the journal

    def add_pending(
        self, sync_name: str, run_id: str, idempotency_key: str, operation: str, items: str, count: int
    ) -> None:
        self._run(
            "insert into sync_journal values (%s, %s, %s, %s, %s, %s, 0, null, %s)",
            (idempotency_key, sync_name, run_id, operation, count, items, utcnow()),
        )

    def bump_pending(self, idempotency_key: str, error: str) -> None:
        self._run(
            "update sync_journal set attempts = attempts + 1, last_error = %s where idempotency_key = %s",
            ((redact(error) or "")[:1000], idempotency_key),
        )

    def pending(self, sync_name: str) -> list[PendingBatch]:
        rows = self._run(
            "select idempotency_key, run_id, operation, items, attempts, created_at from sync_journal "
            "where sync_name = %s order by created_at, idempotency_key",
            (sync_name,),
        )
        return [PendingBatch(*row) for row in rows]

    # committing what a destination confirmed

    def _fill(self, cur: Any, temp: str, columns: tuple[str, ...], rows: list[tuple[Any, ...]]) -> None:
        ddl = ", ".join(f"{name} varchar" for name in columns)
        cur.execute(f"create temp table if not exists {temp} ({ddl}) on commit delete rows")
        psycopg2.extras.execute_values(cur, f"insert into {temp} values %s", rows, page_size=1000)

    def commit(
        self, sync_name: str, run_id: str, idempotency_key: str | None, outcomes: list[Outcome]
    ) -> None:
        """In one transaction, as the DuckDB store: state, log rows, and the batch's journal row."""
        table = state_table(sync_name)
        now = utcnow()
        sends_ok = [o for o in outcomes if o.ok and o.operation not in DELETE_OPERATIONS]
        removed = [o for o in outcomes if o.ok and o.operation in DELETE_OPERATIONS and not o.replace]
        failed = [o for o in outcomes if not o.ok]
        try:
            with self.conn.cursor() as cur:
                if sends_ok:
                    self._fill(
                        cur,
                        "_sync_ok",
                        ("key", "payload_hash", "payload", "destination_id"),
                        [(o.key, o.payload_hash, o.payload, o.destination_id) for o in sends_ok],
                    )
                    cur.execute(record_sent_sql(table, "%s"), (now,))
                counted = [o for o in sends_ok if o.counts_as_send]
                if counted:
                    psycopg2.extras.execute_values(
                        cur,
                        "insert into sync_sends values %s",
                        [(o.channel, o.key, sync_name, run_id, o.sent_at or now) for o in counted],
                        page_size=1000,
                    )
                if removed:
                    self._fill(cur, "_sync_removed", ("key",), [(o.key,) for o in removed])
                    for statement in record_removed_sql(table):
                        cur.execute(statement)
                if failed:
                    self._fill(
                        cur,
                        "_sync_failed",
                        ("key", "attempted_hash", "error", "status"),
                        [
                            (
                                o.key,
                                None if o.operation in DELETE_OPERATIONS else o.payload_hash,
                                (redact(o.error) or "failed")[:2000],
                                "rejected"
                                if o.permanent and o.operation not in DELETE_OPERATIONS
                                else "failed",
                            )
                            for o in failed
                        ],
                    )
                    cur.execute(record_refused_sql(table, "%s"), (now,))
                if outcomes:
                    self._fill(
                        cur,
                        "_sync_log",
                        ("key", "operation", "status", "error", "consent_basis"),
                        [
                            (
                                o.key,
                                o.operation,
                                "succeeded" if o.ok else ("rejected" if o.permanent else "failed"),
                                redact(o.error),
                                o.consent_basis,
                            )
                            for o in outcomes
                        ],
                    )
                    cur.execute(
                        "insert into sync_record_log "
                        "select %s, %s, key, operation, status, error, consent_basis, %s, %s from _sync_log",
                        (sync_name, run_id, idempotency_key, now),
                    )
                if idempotency_key is not None:
                    cur.execute("delete from sync_journal where idempotency_key = %s", (idempotency_key,))
            self.conn.commit()
        except BaseException:
            self.conn.rollback()
            raise

    def channel_sends(self, channel: str, since: datetime) -> None:
        """As the DuckDB store, copied from Postgres into the diff's DuckDB connection."""
        try:
            with self.conn.cursor() as cur:
                copy_into_duckdb(
                    cur,
                    channel_sends_sql(channel, since),
                    self.duck,
                    "_sync_channel_sends",
                    {"key": "varchar", "sends": "bigint"},
                )
        finally:
            self.conn.rollback()

    def prune_sends(self, channel: str, before: datetime) -> int:
        """As the DuckDB store."""
        rows = self._run(
            "delete from sync_sends where channel = %s and sent_at < %s returning 1", (channel, before)
        )
        return len(rows)

    def log_waiting(self, sync_name: str, run_id: str, rows: list[tuple[str, str, str, str]]) -> int:
        """As the DuckDB store: `sync_waiting` replaced, and the newly waiting logged, in one transaction."""
        now = utcnow()
        try:
            with self.conn.cursor() as cur:
                cur.execute("select key, status, since from sync_waiting where sync_name = %s", (sync_name,))
                waiting = {key: (status, since) for key, status, since in cur.fetchall()}
                if not rows and not waiting:
                    self.conn.rollback()
                    return 0
                new = [row for row in rows if waiting.get(row[0], (None,))[0] != row[2]]
                new_keys = {row[0] for row in new}
                cur.execute("delete from sync_waiting where sync_name = %s", (sync_name,))
                psycopg2.extras.execute_values(
                    cur,
                    "insert into sync_waiting values %s",
                    [
                        (sync_name, key, status, reason, now if key in new_keys else waiting[key][1])
                        for key, op, status, reason in rows
                    ],
                    page_size=1000,
                )
                psycopg2.extras.execute_values(
                    cur,
                    "insert into sync_record_log values %s",
                    [
                        (sync_name, run_id, key, op, status, reason, None, None, now)
                        for key, op, status, reason in new
                    ],
                    page_size=1000,
                )
            self.conn.commit()
        except BaseException:
            self.conn.rollback()
            raise
        return len(new)

    def log_invalid(self, sync_name: str, run_id: str) -> int:
        rows = self.duck.execute(
            """
            select distinct key,
                case when key is null then 'null primary key' else 'duplicate primary key' end
            from _sync_source
            where key is null or key_count > 1
            """
        ).fetchall()
        now = utcnow()
        with self.conn.cursor() as cur:
            for chunk in iter_chunks(rows, 1000):
                psycopg2.extras.execute_values(
                    cur,
                    "insert into sync_record_log values %s",
                    [
                        (sync_name, run_id, key, "none", "invalid", reason, None, None, now)
                        for key, reason in chunk
                    ],
                )
        self.conn.commit()
        return len(rows)

    def log_held_out(self, sync_name: str, run_id: str) -> int:
        """As the DuckDB store: the newly held-out keys are found on the diff's DuckDB connection (the
        state copied there), then logged and remembered in Postgres in one transaction."""
        table = state_table(sync_name)
        rows = self.duck.execute(newly_held_out_sql(table)).fetchall()
        released = self.duck.execute(released_holdouts_sql(table)).fetchall()
        restored = self.duck.execute(restored_holdouts_sql(table)).fetchall()
        if not rows and not released and not restored:
            return 0
        now = utcnow()
        try:
            with self.conn.cursor() as cur:
                if restored:
                    self._fill(cur, "_sync_restored", ("key",), restored)
                    cur.execute(
                        f"update {table} set status = 'synced', last_error = null "
                        "where key in (select key from _sync_restored)"
                    )
                if released:
                    self._fill(cur, "_sync_released", ("key",), released)
                    cur.execute(f"delete from {table} where key in (select key from _sync_released)")
                if rows:
                    self._fill(cur, "_sync_held", ("key", "reason"), rows)
                    cur.execute(
                        "insert into sync_record_log "
                        "select %s, %s, key, 'none', 'held_out', reason, null, null, %s from _sync_held",
                        (sync_name, run_id, now),
                    )
                    cur.execute(record_held_out_sql(table))
            self.conn.commit()
        except BaseException:
            self.conn.rollback()
            raise
        return len(rows)

    def checkpoint(self) -> None:
        """Nothing to do: every commit is durable."""

    def close(self) -> None:
        try:
            self.duck.close()
        finally:
            try:
                # Released explicitly: a closed connection's backend lets go of its locks only when it
                # has noticed, and the next run may already be asking.
                self.conn.rollback()
                with self.conn.cursor() as cur:
                    cur.execute("select pg_advisory_unlock(hashtext(%s))", (self._lock_key,))
                self.conn.commit()
            except psycopg2.Error:
                log.warning(
                    "releasing the sync state lock failed; closing the session releases it", exc_info=True
                )
            finally:
                self.conn.close()

    # erasure

    def forget(
        self,
        keys: list[str],
        condition_for: ConditionFor,
        journal_terms: list[str],
        hold: Callable[[str, HeldRows], None],
    ) -> dict[str, int]:
        keys = list(keys)
        counts: dict[str, int] = {}
        touched = ["sync_record_log", "sync_journal"]
        try:
            with self.conn.cursor() as cur:
                cur.execute(
                    "select table_name from information_schema.tables where table_schema = %s "
                    "and left(table_name, 7) = 'state__' order by 1",
                    (self.schema,),
                )
                for (table,) in cur.fetchall():
                    condition = _escaped(condition_for(self._columns(cur, table)))
                    where = f"key = any(%s) or ({condition})"
                    cur.execute(
                        f"select key, destination_id, payload from {quote(table)} where {where}", (keys,)
                    )
                    rows = cur.fetchall()
                    if not rows:
                        continue
                    hold(table[len("state__") :], [(str(k), d, p) for k, d, p in rows])
                    cur.execute(f"delete from {quote(table)} where {where}", (keys,))
                    counts[table] = len(rows)
                    touched.append(table)
                    keys.extend(str(k) for k, _, _ in rows if str(k) not in keys)
                cur.execute("delete from sync_sends where key = any(%s)", (keys,))
                counts["sync_sends"] = cur.rowcount
                cur.execute("delete from sync_waiting where key = any(%s)", (keys,))
                counts["sync_waiting"] = cur.rowcount
                touched.extend(["sync_sends", "sync_waiting"])
                condition = _escaped(condition_for(self._columns(cur, "sync_record_log")))
                cur.execute(f"delete from sync_record_log where key = any(%s) or ({condition})", (keys,))
                counts["sync_record_log"] = cur.rowcount
                wanted, journal_removed = set(keys), 0
                cur.execute("select idempotency_key, items from sync_journal")
                for idempotency_key, items in cur.fetchall():
                    kept, removed_here = journal_without(items, wanted, journal_terms)
                    if not removed_here:
                        continue
                    journal_removed += removed_here
                    if kept:
                        cur.execute(
                            "update sync_journal set items = %s, record_count = %s where idempotency_key = %s",
                            (json.dumps(kept, separators=(",", ":")), len(kept), idempotency_key),
                        )
                    else:
                        cur.execute("delete from sync_journal where idempotency_key = %s", (idempotency_key,))
                counts["sync_journal"] = journal_removed
            self.conn.commit()
        except BaseException:
            self.conn.rollback()
            raise
        # Deleted rows stay in the table's pages until they are rewritten: VACUUM FULL rewrites them.
        self.conn.autocommit = True
        try:
            with self.conn.cursor() as cur:
                for table in touched:
                    cur.execute(f"vacuum full {quote(self.schema)}.{quote(table)}")
        finally:
            self.conn.autocommit = False
        return counts

    def _columns(self, cur: Any, table: str) -> list[tuple[str, str]]:
        cur.execute(
            "select column_name, data_type from information_schema.columns "
            "where table_schema = %s and table_name = %s order by ordinal_position",
            (self.schema, table),
        )
        return [(name, dtype) for name, dtype in cur.fetchall()]


def _escaped(condition: str | None) -> str:
    """A condition built from a person's terms, safe to run with psycopg2 parameters beside it."""
    return (condition or "false").replace("%", "%%")


@contextlib.contextmanager
def open_preview(location: SyncLocation, sync_name: str) -> Iterator[tuple[duckdb.DuckDBPyConnection, int]]:
    """For the dry run: the sync's state and the sends frequency caps count (sync_sends) copied into
    DuckDB from a read-only session (nothing is created, not even the state schema), and the number of
    unconfirmed batches."""
    duck = duckdb.connect()
    conn = _connect_state(location)
    try:
        conn.set_session(readonly=True)
        with conn.cursor() as cur:
            for statement in SCHEMA:
                if statement.strip().startswith("create table"):
                    duck.execute(statement)
            _copy_state(cur, location.state, sync_name, duck)
            # The sends frequency caps count, for the dry run's capped count (pruned to the longest
            # cap window, so the copy stays small).
            cur.execute(
                "select 1 from information_schema.tables where table_schema = %s and table_name = 'sync_sends'",
                (location.state,),
            )
            if cur.fetchone() is not None:
                copy_into_duckdb(
                    cur,
                    f"select channel, key, sync_name, run_id, sent_at from {quote(location.state)}.sync_sends",
                    duck,
                    "_sync_sends_copy",
                    SENDS_TYPES,
                )
                duck.execute("insert into sync_sends select * from _sync_sends_copy")
                duck.execute("drop table _sync_sends_copy")
            cur.execute(
                "select 1 from information_schema.tables where table_schema = %s and table_name = 'sync_journal'",
                (location.state,),
            )
            pending = 0
            if cur.fetchone() is not None:
                cur.execute(
                    f"select count(*) from {quote(location.state)}.sync_journal where sync_name = %s",
                    (sync_name,),
                )
                row = cur.fetchone()
                pending = int(row[0]) if row else 0
        conn.rollback()
        yield duck, pending
    finally:
        conn.close()
        duck.close()


def publish_history(location: SyncLocation) -> None:
    """Nothing to copy: analysts read the state schema itself (Postgres readers never block the engine)."""


def state_files(location: SyncLocation) -> list[Any]:
    """No files: the state is in the database."""
    return []


def state_exists(location: SyncLocation) -> bool:
    conn = psycopg2.connect(**location.connect)
    try:
        with conn.cursor() as cur:
            cur.execute("select 1 from information_schema.schemata where schema_name = %s", (location.state,))
            return cur.fetchone() is not None
    finally:
        conn.close()


def state_schemas(location: SyncLocation) -> list[str]:
    return [location.state]


def record_history(location: SyncLocation, key: str, limit: int) -> list[tuple]:
    """The latest sync_record_log rows of one key, newest first, from the state schema; none before a
    sync has run."""
    if not state_exists(location):
        return []
    conn = _connect_state(location)
    try:
        with conn.cursor() as cur:
            cur.execute(
                "select 1 from information_schema.tables where table_schema = %s and table_name = 'sync_record_log'",
                (location.state,),
            )
            if cur.fetchone() is None:
                return []
            cur.execute(
                f"select logged_at, sync_name, operation, status, error from {quote(location.state)}.sync_record_log "
                "where key = %s order by logged_at desc, sync_name limit %s",
                (key, int(limit)),
            )
            return list(cur.fetchall())
    finally:
        conn.close()
