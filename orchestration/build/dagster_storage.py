"""Dagster's SQLite event log, with connections that stay open.

Dagster's `SqliteEventLogStorage` builds a SQLAlchemy engine, opens a connection, commits and disposes
of the engine for every event it stores, and asset events are written twice (the run's database and the
index). A build through Dagster stores about 1,500 events (materializations, and a planned event and a
result for each of the ~350 dbt tests shown as asset checks); at 13-14 ms each that is a share of the
job that competes with dbt for the two cores (issue #16).

`PooledSqliteEventLogStorage` keeps Dagster's files, layout and schema, and changes only how it connects:
- one engine per database, with one connection kept open; the index and the most recent
  `OPEN_RUN_DATABASES` run databases stay open, older run databases are closed;
- a run's end (its success, failure or cancellation event) closes its database, and the index with
  it when no other run is open: an instance left open between runs holds no file of the log;
- WAL with `synchronous=NORMAL`: a commit survives a killed process, and a power cut can lose only the
  last events of the log (never the warehouse, the sync state or the run storage, which are elsewhere);
- Dagster's UI follows a live run by watching the run's database file, which SQLite changes only at a
  checkpoint once the WAL holds the writes. Every committed write to a run database therefore touches the
  file's modification time, which the watcher sees as a change.

Open connections hold POSIX locks on the database files, and closing any descriptor of such a file in
the same process drops them: code that reads these files must go through SQLite (the erasure proof's
scan does: orchestration/privacy/scan.py, `file_bytes`).

There is no library for this: Dagster ships only its own SQLite, Postgres and MySQL storages, and the
Postgres one would make the embedded default need a server. `.dagster/dagster.yaml` selects the class.
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
import threading
from collections import OrderedDict
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from dagster import DagsterEventType, EventLogEntry, Field
from dagster._config import StringSource
from dagster._core.storage.event_log.sqlite.sqlite_event_log import SqliteEventLogStorage
from dagster._core.storage.sql import create_engine
from dagster._core.storage.sqlite import SQLITE_BUSY_TIMEOUT_SECONDS
from dagster._serdes import ConfigurableClassData
from sqlalchemy import event
from sqlalchemy.engine import Connection, Engine

#: Run databases kept open besides the index: a job writes to one, the UI may read a few.
OPEN_RUN_DATABASES = 8

_INDEX_SHARD = "index"

#: A run's last events.
_RUN_ENDED = {DagsterEventType.RUN_SUCCESS, DagsterEventType.RUN_FAILURE, DagsterEventType.RUN_CANCELED}


def _write_ahead(dbapi_connection: sqlite3.Connection, _record: Any) -> None:
    """Every new connection: write-ahead log, and fsync at checkpoints rather than at every commit."""
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.close()


class PooledSqliteEventLogStorage(SqliteEventLogStorage):
    """Dagster's run-sharded SQLite event log, with its connections kept open (see the module)."""

    def __init__(self, base_dir: str | None = None, inst_data: ConfigurableClassData | None = None):
        self._engines: OrderedDict[str, Engine] = OrderedDict()
        self._tables: set[str] = set()
        super().__init__(base_dir or _default_base_dir(), inst_data)
        # Re-entrant: Dagster's wipe asks has_table while it holds the index connection.
        self._db_lock = threading.RLock()  # type: ignore[assignment]

    @classmethod
    def config_type(cls) -> dict:
        return {"base_dir": Field(StringSource, is_required=False)}

    @classmethod
    def from_config_value(  # type: ignore[override]
        cls, inst_data: ConfigurableClassData | None, config_value: dict
    ) -> PooledSqliteEventLogStorage:
        return cls(inst_data=inst_data, **config_value)

    def _engine(self, shard: str) -> Engine:
        """The open engine of one database; called under the lock."""
        engine = self._engines.get(shard)
        if engine is not None:
            self._engines.move_to_end(shard)
            return engine
        engine = create_engine(
            self.conn_string_for_shard(shard),
            pool_size=1,
            connect_args={"timeout": SQLITE_BUSY_TIMEOUT_SECONDS, "check_same_thread": False},
        )
        event.listen(engine, "connect", _write_ahead)
        self._engines[shard] = engine
        runs = [name for name in self._engines if name != _INDEX_SHARD]
        excess = len(runs) - OPEN_RUN_DATABASES
        for name in runs:
            if excess <= 0:
                break
            # Oldest first; never one whose connection is checked out (a connection of this thread, under
            # the re-entrant lock): disposing of its engine would leave that connection open until
            # garbage collection. The next database to open evicts it instead.
            if name != shard and self._engines[name].pool.checkedout() == 0:  # type: ignore[attr-defined]
                self._engines.pop(name).dispose()
                excess -= 1
        return engine

    @contextmanager
    def _connect(self, shard: str) -> Iterator[Connection]:
        with self._db_lock:
            engine = self._engine(shard)
            if shard not in self._initialized_dbs:
                self._initdb(engine)
                self._initialized_dbs.add(shard)
            with engine.connect() as conn:
                raw = conn.connection.dbapi_connection
                changes = raw.total_changes if raw is not None else 0
                with conn.begin():
                    yield conn
                if shard != _INDEX_SHARD and raw is not None and raw.total_changes != changes:
                    # A watcher (the UI following a live run) sees the run's file change.
                    with contextlib.suppress(FileNotFoundError):
                        os.utime(self.path_for_shard(shard))

    def store_event(self, event: EventLogEntry) -> None:
        super().store_event(event)
        if event.is_dagster_event and event.dagster_event_type in _RUN_ENDED:
            # The run's last event: its database and, with no other run open, the index are closed, so an
            # instance left open between runs holds no file (and no lock) of the log.
            with self._db_lock:
                engine = self._engines.pop(event.run_id, None)
                if engine is not None:
                    engine.dispose()
                if list(self._engines) == [_INDEX_SHARD]:
                    self._engines.pop(_INDEX_SHARD).dispose()

    def has_table(self, table_name: str) -> bool:
        """Asked before every asset-check event: answered on the open index connection, and remembered
        once true (tables are only added, by migrations)."""
        if table_name in self._tables:
            return True
        with self._db_lock:
            engine = self._engine(_INDEX_SHARD)
            with engine.connect() as conn:
                found = bool(engine.dialect.has_table(conn, table_name))
        if found:
            self._tables.add(table_name)
        return found

    def _close_engines(self) -> None:
        with self._db_lock:
            while self._engines:
                self._engines.popitem()[1].dispose()

    def wipe(self) -> None:
        with self._db_lock:
            self._close_engines()
            self._tables.clear()
            super().wipe()

    def dispose(self) -> None:
        super().dispose()
        self._close_engines()


def _default_base_dir() -> str:
    """Where Dagster keeps a SQLite instance's event logs: $DAGSTER_HOME/history/runs."""
    home = os.environ.get("DAGSTER_HOME")
    if not home:
        raise ValueError("PooledSqliteEventLogStorage needs base_dir in its config, or DAGSTER_HOME set")
    return os.path.join(home, "history", "runs")
