"""The Spark sync store: the source is read from the published build through the Thrift server, and state
and history are kept in a Spark database of their own, `<published database>_sync`, as one append-only
journal of entries (`sync_entries`) over plain Parquet tables.

Spark's Parquet tables have no transactions, no UPDATE and no DELETE. So nothing is ever updated in
place: every write the engine makes (a confirmed batch, a run's start or end, an unconfirmed batch) is one
*commit*: a set of entries appended to `sync_entries`, each entry the new version of one row of one of
the engine's tables (state, run history, journal, record log, sends, waiting), or its tombstone. Every
entry carries its commit's id, sequence number and size (`commit_rows`) and its place in it (`row_no`).
A reader takes, per row, the entry of the latest commit that is *complete* (all `commit_rows` of its
entries visible). An append cut short (the process killed between two statements of one commit, or
Spark's job commit cut short) leaves an incomplete commit, which every reader ignores: a commit counts
whole or not at all, as a transaction does on Postgres. An entry seen twice counts once. Analysts read
views of the engine's tables over those current rows, in the state database (`sync_runs`,
`sync_record_log`, `state__<sync>`, ...); docs/spark.md ("Syncs on Spark") says what they can observe.

The diff itself stays DuckDB SQL (orchestration/sync/diff.py), as on Postgres: for a run, the sync's
current state is read out of Spark (the "latest complete commit" selection runs in Spark) into an
in-memory DuckDB database that mirrors the engine's tables, and the mapped columns of the source model are
fetched there too. Every write runs the DuckDB store's own statements (orchestration/sync/state.py) on that
mirror, so state means the same as on DuckDB, and the rows it changed are appended to Spark as one
commit. One run per state database at a time: an exclusive lock on a file named after the Thrift
server and database (in the temporary folder), so for processes on one machine only."""

from __future__ import annotations

import base64
import contextlib
import fcntl
import hashlib
import json
import logging
import re
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path
from typing import Any, TextIO

import duckdb
import pyarrow as pa

from orchestration.sync.diff import quote
from orchestration.sync.errors import SyncConfigError
from orchestration.sync.state import (
    SCHEMA,
    STATE_COLUMNS,
    Outcome,
    RunRow,
    StateStore,
    newly_held_out_sql,
    released_holdouts_sql,
    restored_holdouts_sql,
    state_table,
    utcnow,
)
from orchestration.sync.stores.base import ConditionFor, HeldRows, iter_chunks
from orchestration.warehouse.interface import SyncLocation
from orchestration.warehouse.spark import arrow_column, ident, readable_published_database

log = logging.getLogger(__name__)

ENTRIES = "sync_entries"
ENTRY_COLUMNS = (
    ("entry_table", "string"),
    ("sync_name", "string"),
    ("row_key", "string"),
    ("is_deleted", "boolean"),
    ("row_json", "string"),
    ("commit_id", "string"),
    ("commit_seq", "bigint"),
    ("commit_rows", "int"),
    ("row_no", "int"),
    ("committed_at", "timestamp"),
)
# The engine's tables, as entry_table names; a sync's state table is "state" with the sync's name.
STATE = "state"
RUNS = "sync_runs"
JOURNAL = "sync_journal"
SENDS = "sync_sends"
WAITING = "sync_waiting"
RECORD_LOG = "sync_record_log"
SHARED_TABLES = (RUNS, JOURNAL, SENDS, WAITING, RECORD_LOG)
# The DuckDB warehouse file's own schemas are all the published database on Spark.
WAREHOUSE_SCHEMAS = ("main", "tessera_audit")
# Entries per INSERT statement: a commit larger than this is appended in several statements, and counts
# only once all of them landed.
ROWS_PER_STATEMENT = 500
FETCH_ROWS = 10_000
LOCK_WAIT_SECONDS = 5.0
_PLAIN = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_SPARK_TYPES = {
    "VARCHAR": "string",
    "INTEGER": "int",
    "BIGINT": "bigint",
    "BOOLEAN": "boolean",
    "TIMESTAMP": "timestamp",
}


def plain(name: str) -> str:
    """A name safe to interpolate (sync names and databases are validated identifiers already)."""
    if not _PLAIN.match(name):
        raise ValueError(f"not a plain name: {name!r}")
    return name


def text_literal(value: str | None) -> str:
    """A Spark string literal for any text, whatever the server's literal settings: base64, decoded by
    Spark. (The Thrift server runs with spark.sql.parser.escapedStringLiterals, under which quotes and
    backslashes inside literals are hazardous; base64 has neither.)"""
    if value is None:
        return "cast(null as string)"
    encoded = base64.b64encode(value.encode("utf-8")).decode("ascii")
    return f"cast(unbase64('{encoded}') as string)"


def as_text(value: Any) -> str | None:
    """A row value as the text kept in an entry's JSON (every value is kept as text, typed on reading)."""
    if value is None:
        return None
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, datetime):
        return value.isoformat(sep=" ")
    if isinstance(value, date):
        return value.isoformat()
    return str(value)


@dataclass(frozen=True)
class Entry:
    """The new version of one row of one of the engine's tables, or (row None) its tombstone. `row_key`
    identifies the row within (entry_table, sync_name); None for a row that is only ever appended."""

    table: str
    sync_name: str | None
    row_key: str | None
    row: Mapping[str, Any] | None

    def row_json(self) -> str | None:
        if self.row is None:
            return None
        return json.dumps({k: as_text(v) for k, v in self.row.items()}, separators=(",", ":"), sort_keys=True)


def create_entries_sql(database: str) -> str:
    columns = ", ".join(f"{name} {dtype}" for name, dtype in ENTRY_COLUMNS)
    return f"create table if not exists {ident(plain(database))}.{ENTRIES} ({columns}) using parquet"


def insert_sql(
    database: str,
    commit_id: str,
    commit_seq: int,
    committed_at: datetime,
    entries: list[Entry],
    first: int,
    total: int,
) -> str:
    """One INSERT of `entries`, rows `first`.. of the commit `commit_id` of `total` rows."""
    stamp = committed_at.isoformat(sep=" ")
    values = []
    for offset, entry in enumerate(entries):
        values.append(
            "("
            + ", ".join(
                [
                    text_literal(entry.table),
                    text_literal(entry.sync_name),
                    text_literal(entry.row_key),
                    "true" if entry.row is None else "false",
                    text_literal(entry.row_json()),
                    text_literal(commit_id),
                    str(int(commit_seq)),
                    str(int(total)),
                    str(first + offset),
                    f"timestamp '{stamp}'",
                ]
            )
            + ")"
        )
    return f"insert into {ident(plain(database))}.{ENTRIES} values " + ", ".join(values)


def current_rows_sql(database: str, tables: list[tuple[str, str | None]]) -> str:
    """The current rows of the engine's tables `tables` ((table, sync name), a None name for every
    sync's), as (entry_table, row_json): per row, the entry of the latest complete commit, unless it is a
    tombstone. A commit is complete when every one of its `commit_rows` entries is there (whatever tables
    they are of); an entry appended twice counts once."""
    entries = f"{ident(plain(database))}.{ENTRIES}"
    wanted = " or ".join(
        f"(e.entry_table = '{plain(table)}'"
        + (f" and e.sync_name = '{plain(sync_name)}')" if sync_name is not None else ")")
        for table, sync_name in tables
    )
    return f"""
with

complete_commits as (
    select commit_id
    from {entries}
    group by commit_id
    having count(distinct row_no) = max(commit_rows)
),

wanted_entries as (
    select
        e.entry_table,
        e.sync_name,
        e.row_key,
        e.is_deleted,
        e.row_json,
        e.commit_id,
        e.row_no,
        e.commit_seq,
        e.committed_at
    from {entries} as e
    inner join complete_commits as c
        on e.commit_id = c.commit_id
    where {wanted}
),

ranked as (
    select
        entry_table,
        row_json,
        is_deleted,
        row_number() over (
            partition by
                entry_table,
                sync_name,
                coalesce(row_key, concat(commit_id, ':', cast(row_no as string)))
            order by commit_seq desc, committed_at desc, commit_id desc
        ) as version
    from wanted_entries
)

select entry_table, row_json from ranked where version = 1 and not is_deleted
"""


def view_sql(
    database: str, view: str, table: str, columns: list[tuple[str, str]], sync_name: str | None
) -> str:
    """A view for analysts of one of the engine's tables, typed as on DuckDB, over its current rows."""
    selects = ", ".join(
        f"cast(get_json_object(row_json, '$.{plain(name)}') as {_SPARK_TYPES.get(dtype.upper(), 'string')}) "
        f"as {plain(name)}"
        for name, dtype in columns
    )
    # `create view if not exists`, not `create or replace`: Spark runs the latter as a drop and a create,
    # and a reader in between would find no view.
    return (
        f"create view if not exists {ident(plain(database))}.{ident(plain(view))} as "
        f"select {selects} from ({current_rows_sql(database, [(table, sync_name)])}) as current_rows"
    )


# -- the mirror: the engine's tables in an in-memory DuckDB ---------------------------------------------


def mirror_columns(conn: duckdb.DuckDBPyConnection, table: str) -> list[tuple[str, str]]:
    return [
        (str(name), str(dtype))
        for name, dtype in conn.execute(
            "select column_name, data_type from information_schema.columns "
            "where table_schema = 'main' and table_name = ? order by ordinal_position",
            [table],
        ).fetchall()
    ]


def load_rows(conn: duckdb.DuckDBPyConnection, table: str, rows_json: list[str]) -> int:
    """Insert rows kept as entries' JSON (every value text) into the mirror table, typed as it is."""
    columns = mirror_columns(conn, table)
    if not rows_json:
        return 0
    parsed = [json.loads(text) for text in rows_json]
    data = pa.table({name: pa.array([row.get(name) for row in parsed], pa.string()) for name, _ in columns})
    conn.register("_spark_rows", data)
    try:
        casts = ", ".join(f"cast({quote(name)} as {dtype})" for name, dtype in columns)
        conn.execute(f"insert into {quote(table)} select {casts} from _spark_rows")
    finally:
        conn.unregister("_spark_rows")
    return len(parsed)


def _fetch_rows(cur: Any, sql: str) -> dict[str, list[str]]:
    """(entry_table, row_json) rows fetched, grouped by table."""
    cur.execute(sql)
    found: dict[str, list[str]] = {}
    while rows := cur.fetchmany(FETCH_ROWS):
        for table, row_json in rows:
            found.setdefault(str(table), []).append(str(row_json))
    return found


def _databases(cur: Any) -> set[str]:
    cur.execute("show databases")
    return {str(name).lower() for (name, *_) in cur.fetchall()}


def _tables(cur: Any, database: str) -> set[str]:
    if database.lower() not in _databases(cur):
        return set()
    cur.execute(f"show tables in {ident(database)}")
    return {str(row[1]).lower() for row in cur.fetchall() if not row[2]}


def _connect(location: SyncLocation) -> Any:
    try:
        from pyhive import hive
    except ImportError as error:
        raise RuntimeError("syncs on Spark need the spark extra: run `make spark-install`") from error
    return hive.connect(**dict(location.connect))


def _lock_path(location: SyncLocation) -> Path:
    where = f"{location.connect.get('host')}:{location.connect.get('port')}/{location.state}"
    digest = hashlib.sha1(where.encode()).hexdigest()[:16]
    return Path(tempfile.gettempdir()) / f"tessera-sync-spark-{digest}.lock"


def _take_lock(location: SyncLocation) -> TextIO:
    handle = open(_lock_path(location), "a")  # noqa: SIM115 (held until close)
    deadline = time.monotonic() + LOCK_WAIT_SECONDS
    while True:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return handle
        except BlockingIOError:
            if time.monotonic() >= deadline:
                handle.close()
                raise RuntimeError(
                    f"the Spark sync state database {location.state} is in use by another process"
                ) from None
            time.sleep(0.1)


def _load(
    cur: Any, database: str, conn: duckdb.DuckDBPyConnection, sync_name: str | None, *, sends: bool
) -> None:
    """The sync's state, runs, unconfirmed batches and waiting records (and with `sends`, every sync's
    sends) into the mirror, from the database's current rows, in one Spark query."""
    tables: list[tuple[str, str | None]] = []
    if sync_name is not None:
        conn.execute(f"create table if not exists {state_table(sync_name)} ({STATE_COLUMNS})")
        tables += [(STATE, sync_name), (RUNS, sync_name), (JOURNAL, sync_name), (WAITING, sync_name)]
    if sends:
        tables.append((SENDS, None))
    found = _fetch_rows(cur, current_rows_sql(database, tables)) if tables else {}
    for table, rows in found.items():
        load_rows(conn, state_table(str(sync_name)) if table == STATE else table, rows)


def _mirror() -> duckdb.DuckDBPyConnection:
    conn = duckdb.connect()
    for statement in SCHEMA:
        conn.execute(statement)
    return conn


class SparkStore(StateStore):
    """The engine's tables mirrored in an in-memory DuckDB (the DuckDB store's statements run there); every
    change is appended to `<state>.sync_entries` in Spark as one commit (the module docstring)."""

    def __init__(self, location: SyncLocation) -> None:
        self.location = location
        self.database = plain(location.state)
        self._lock = _take_lock(location)
        try:
            self.spark = _connect(location)
            self.cur = self.spark.cursor()
            self.cur.execute(f"create database if not exists {ident(self.database)}")
            self.cur.execute(create_entries_sql(self.database))
            self.conn = _mirror()
            self.relations = _tables(self.cur, self.database)
            for table in SHARED_TABLES:
                self._view(table, table, None)
            self.cur.execute(f"select coalesce(max(commit_seq), 0) from {ident(self.database)}.{ENTRIES}")
            row = self.cur.fetchone()
            self.seq = int(row[0]) if row else 0
            _load(self.cur, self.database, self.conn, None, sends=True)
        except BaseException:
            self._release()
            raise
        self.loaded: set[str] = set()

    def _view(self, view: str, entry_table: str, sync_name: str | None) -> None:
        """The analysts' view of one of the engine's tables, made once, when missing (view_sql)."""
        if view.lower() not in self.relations:
            columns = mirror_columns(self.conn, view)
            self.cur.execute(view_sql(self.database, view, entry_table, columns, sync_name))
            self.relations.add(view.lower())

    def _release(self) -> None:
        with contextlib.suppress(Exception):
            self.spark.close()
        fcntl.flock(self._lock, fcntl.LOCK_UN)
        self._lock.close()

    # writing a commit

    def append(self, entries: list[Entry]) -> None:
        """Append `entries` as one commit (several statements when large; it counts once all landed)."""
        if not entries:
            return
        self.seq += 1
        commit_id = uuid.uuid4().hex
        now = utcnow()
        for number, chunk in enumerate(iter_chunks(entries, ROWS_PER_STATEMENT)):
            self.cur.execute(
                insert_sql(
                    self.database, commit_id, self.seq, now, chunk, number * ROWS_PER_STATEMENT, len(entries)
                )
            )

    def _rows(self, sql: str, params: list[Any]) -> list[dict[str, Any]]:
        cursor = self.conn.execute(sql, params)
        names = [column[0] for column in cursor.description or []]
        return [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]

    def _keyed(
        self, entry_table: str, sync_name: str, key_column: str, keys: list[str], *, per_sync: bool = True
    ) -> list[Entry]:
        """The mirror's rows of `keys` as entries: their current version, or a tombstone when gone."""
        keys = list(dict.fromkeys(k for k in keys if k is not None))
        if not keys:
            return []
        table = state_table(sync_name) if entry_table == STATE else entry_table
        where = f"{quote(key_column)} in (select unnest(?))"
        params: list[Any] = [keys]
        if per_sync and entry_table != STATE:
            where += " and sync_name = ?"
            params.append(sync_name)
        found = {
            str(row[key_column]): row for row in self._rows(f"select * from {table} where {where}", params)
        }
        return [Entry(entry_table, sync_name, key, found.get(key)) for key in keys]

    def _logged(self) -> list[Entry]:
        """The record-log rows written since the last commit (the mirror keeps none once appended: nothing
        the engine runs reads the record log back)."""
        rows = self._rows(f"select * from {RECORD_LOG}", [])
        self.conn.execute(f"delete from {RECORD_LOG}")
        return [Entry(RECORD_LOG, str(row["sync_name"]), None, row) for row in rows]

    def _sends_mark(self) -> int:
        # fetchall, not fetchone: a result left unfinished blocks the next register() on the connection.
        rows = self.conn.execute(f"select coalesce(max(rowid), -1) from {SENDS}").fetchall()
        return int(rows[0][0]) if rows else -1

    def _sends_since(self, mark: int) -> list[Entry]:
        rows = self._rows(f"select * from {SENDS} where rowid > ?", [mark])
        return [Entry(SENDS, str(row["sync_name"]), _content_key(row), row) for row in rows]

    # the diff

    def ensure_sync(self, sync_name: str) -> str:
        table = super().ensure_sync(sync_name)
        if sync_name not in self.loaded:
            _load(self.cur, self.database, self.conn, sync_name, sends=False)
            self._view(table, STATE, sync_name)
            self.loaded.add(sync_name)
        return table

    def diff_connection(self, sync_name: str) -> duckdb.DuckDBPyConnection:
        self.ensure_sync(sync_name)
        return self.conn

    # run history

    def mark_interrupted(self, sync_name: str) -> int:
        running = [
            str(r)
            for (r,) in self.conn.execute(
                "select run_id from sync_runs where sync_name = ? and status = 'running'", [sync_name]
            ).fetchall()
        ]
        count = super().mark_interrupted(sync_name)
        self.append(self._keyed(RUNS, sync_name, "run_id", running))
        return count

    def start_run(self, run: RunRow) -> None:
        super().start_run(run)
        self.append(self._keyed(RUNS, run.sync_name, "run_id", [run.run_id]))

    def finish_run(self, run: RunRow) -> None:
        super().finish_run(run)
        self.append(self._keyed(RUNS, run.sync_name, "run_id", [run.run_id]))

    # the journal

    def add_pending(
        self, sync_name: str, run_id: str, idempotency_key: str, operation: str, items: str, count: int
    ) -> None:
        super().add_pending(sync_name, run_id, idempotency_key, operation, items, count)
        self.append(self._keyed(JOURNAL, sync_name, "idempotency_key", [idempotency_key]))

    def bump_pending(self, idempotency_key: str, error: str) -> None:
        super().bump_pending(idempotency_key, error)
        for (sync_name,) in self.conn.execute(
            "select sync_name from sync_journal where idempotency_key = ?", [idempotency_key]
        ).fetchall():
            self.append(self._keyed(JOURNAL, str(sync_name), "idempotency_key", [idempotency_key]))

    # committing what a destination confirmed

    def commit(
        self, sync_name: str, run_id: str, idempotency_key: str | None, outcomes: list[Outcome]
    ) -> None:
        """As the DuckDB store, on the mirror; then state, sends, log rows and the batch's journal
        tombstone appended to Spark as one commit."""
        mark = self._sends_mark()
        super().commit(sync_name, run_id, idempotency_key, outcomes)
        entries = self._keyed(STATE, sync_name, "key", [o.key for o in outcomes])
        entries += self._sends_since(mark)
        entries += self._logged()
        if idempotency_key is not None:
            entries += self._keyed(JOURNAL, sync_name, "idempotency_key", [idempotency_key])
        self.append(entries)

    def prune_sends(self, channel: str, before: datetime) -> int:
        gone = self._rows(f"select * from {SENDS} where channel = ? and sent_at < ?", [channel, before])
        count = super().prune_sends(channel, before)
        self.append([Entry(SENDS, str(row["sync_name"]), _content_key(row), None) for row in gone])
        return count

    def log_waiting(self, sync_name: str, run_id: str, rows: list[tuple[str, str, str, str]]) -> int:
        before = [
            str(k)
            for (k,) in self.conn.execute(
                "select key from sync_waiting where sync_name = ?", [sync_name]
            ).fetchall()
        ]
        count = super().log_waiting(sync_name, run_id, rows)
        entries = self._keyed(WAITING, sync_name, "key", before + [row[0] for row in rows])
        self.append(entries + self._logged())
        return count

    def log_invalid(self, sync_name: str, run_id: str) -> int:
        count = super().log_invalid(sync_name, run_id)
        self.append(self._logged())
        return count

    def log_held_out(self, sync_name: str, run_id: str) -> int:
        table = state_table(sync_name)
        touched = [str(row[0]) for row in self.conn.execute(newly_held_out_sql(table)).fetchall()]
        touched += [str(k) for (k,) in self.conn.execute(released_holdouts_sql(table)).fetchall()]
        touched += [str(k) for (k,) in self.conn.execute(restored_holdouts_sql(table)).fetchall()]
        count = super().log_held_out(sync_name, run_id)
        self.append(self._keyed(STATE, sync_name, "key", touched) + self._logged())
        return count

    def checkpoint(self) -> None:
        """Nothing to do: every commit was appended to Spark when it was made."""

    def close(self) -> None:
        try:
            self.conn.close()
        finally:
            self._release()

    def forget(
        self,
        keys: list[str],
        condition_for: ConditionFor,
        journal_terms: list[str],
        hold: Callable[[str, HeldRows], None],
    ) -> dict[str, int]:
        # Entries are only ever appended: erasing means rewriting the Parquet files of sync_entries
        # without the person's entries (and the views' history with them), which is not written yet.
        raise NotImplementedError("erasing a person from the sync state is not on Spark yet (issue #17)")


def _content_key(row: Mapping[str, Any]) -> str:
    """A sends row's identity (the table has no key): a hash of its content."""
    text = json.dumps({k: as_text(v) for k, v in row.items()}, sort_keys=True)
    return hashlib.sha1(text.encode()).hexdigest()


# -- the source --------------------------------------------------------------------------------------


class _SparkTables:
    def __init__(self, cur: Any, duck: duckdb.DuckDBPyConnection, database: str) -> None:
        self.cur = cur
        self.duck = duck
        self.database = database
        self.copied: list[str] = []
        self.listed: dict[str, set[str]] = {}

    def _database(self, schema: str) -> str:
        return self.database if schema in WAREHOUSE_SCHEMAS else plain(schema)

    def _types(self, schema: str, table: str) -> dict[str, str]:
        database = self._database(schema)
        if database not in self.listed:
            self.listed[database] = _tables(self.cur, database)
        if table.lower() not in self.listed[database]:
            return {}
        self.cur.execute(f"describe table {ident(database)}.{ident(table)}")
        declared: dict[str, str] = {}
        for name, dtype, *_ in self.cur.fetchall():
            if not name or str(name).startswith("#"):  # partition information follows a blank line
                break
            declared[str(name)] = str(dtype)
        return declared

    def columns(self, schema: str, table: str) -> list[str] | None:
        return list(self._types(schema, table)) or None

    def relation(
        self, schema: str, table: str, columns: list[str], where: tuple[str, str] | None = None
    ) -> str:
        declared = self._types(schema, table)
        if not declared:
            raise SyncConfigError(f"{self._database(schema)}.{table} is not in the published database")
        wanted = [name for name in dict.fromkeys(columns) if name in declared]
        sql = (
            f"select {', '.join(ident(name) for name in wanted)} "
            f"from {ident(self._database(schema))}.{ident(table)}"
        )
        if where is not None:
            sql += f" where {ident(where[0])} = {text_literal(where[1])}"
        self.cur.execute(sql)
        target = f"_sync_src_{len(self.copied)}_{plain(table)}"
        fields = pa.schema([(name, arrow_column([], declared[name]).type) for name in wanted])
        batches = []
        while rows := self.cur.fetchmany(FETCH_ROWS):
            batch = pa.RecordBatch.from_pydict(
                {
                    name: arrow_column([row[i] for row in rows], declared[name])
                    for i, name in enumerate(wanted)
                }
            )
            batches.append(batch if batch.schema == fields else batch.cast(fields))
        data = pa.Table.from_batches(batches, schema=fields)
        self.duck.register("_spark_source", data)
        try:
            self.duck.execute(f"create or replace temp table {quote(target)} as select * from _spark_source")
        finally:
            self.duck.unregister("_spark_source")
        self.copied.append(target)
        return quote(target)


class SparkSource:
    """The published build, read through the Thrift server: the build database the published views point
    at (so every table of one diff comes from one build, even while a publish moves the views), or the
    published database itself when it records no build."""

    def __init__(self, location: SyncLocation) -> None:
        self.location = location

    def exists(self) -> bool:
        try:
            conn = _connect(self.location)
        except Exception:  # the server is down: nothing can be read as published
            return False
        try:
            return self.location.published.lower() in _databases(conn.cursor())
        finally:
            conn.close()

    def describe(self) -> str:
        connect = self.location.connect
        return (
            f"spark thrift://{connect.get('host')}:{connect.get('port')} database {self.location.published}"
        )

    @contextlib.contextmanager
    def open(self, conn: duckdb.DuckDBPyConnection) -> Iterator[_SparkTables]:
        spark = _connect(self.location)
        tables: _SparkTables | None = None
        try:
            cur = spark.cursor()
            database = readable_published_database(cur, plain(self.location.published))
            tables = _SparkTables(cur, conn, database)
            yield tables
        finally:
            spark.close()
            for name in tables.copied if tables else []:
                conn.execute(f"drop table if exists {quote(name)}")


# -- what the registry asks of every store --------------------------------------------------------------


@contextlib.contextmanager
def open_preview(location: SyncLocation, sync_name: str) -> Iterator[tuple[duckdb.DuckDBPyConnection, int]]:
    """For the dry run: the sync's state and the sends copied into a DuckDB mirror (nothing is created in
    Spark), and the number of unconfirmed batches."""
    duck = _mirror()
    spark = _connect(location)
    try:
        cur = spark.cursor()
        database = plain(location.state)
        if ENTRIES in _tables(cur, database):
            _load(cur, database, duck, sync_name, sends=True)
        else:
            duck.execute(f"create table {state_table(sync_name)} ({STATE_COLUMNS})")
        rows = duck.execute("select count(*) from sync_journal where sync_name = ?", [sync_name]).fetchall()
        yield duck, int(rows[0][0]) if rows else 0
    finally:
        spark.close()
        duck.close()


def publish_history(location: SyncLocation) -> None:
    """Nothing to copy: analysts read the state database's views (readers never block the engine)."""


def state_files(location: SyncLocation) -> list[Any]:
    """No files of ours: the state is in Spark's tables."""
    return []


def state_exists(location: SyncLocation) -> bool:
    spark = _connect(location)
    try:
        return location.state.lower() in _databases(spark.cursor())
    finally:
        spark.close()


def state_schemas(location: SyncLocation) -> list[str]:
    return [location.state]


def record_history(location: SyncLocation, key: str, limit: int) -> list[tuple]:
    """The latest sync_record_log rows of one key, newest first, through the state database's view;
    none before a sync has run."""
    spark = _connect(location)
    try:
        cur = spark.cursor()
        database = plain(location.state)
        if RECORD_LOG not in _tables(cur, database):
            return []
        cur.execute(
            f"select logged_at, sync_name, operation, status, error from {ident(database)}.{RECORD_LOG} "
            f"where key = {text_literal(key)} order by logged_at desc, sync_name limit {int(limit)}"
        )
        return list(cur.fetchall())
    finally:
        spark.close()
