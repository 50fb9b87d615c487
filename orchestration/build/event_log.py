"""Dagster's SQLite event log, without a new database connection for every event.

Dagster's SqliteEventLogStorage opens an engine, a connection and a transaction for every event it stores,
and closes them again (NullPool). A dbt build of Tessera stores over a thousand events (a materialization
per model, a check evaluation per test), and closing the last connection to a WAL-mode SQLite file
checkpoints it, so each event paid for a connection, a commit with its fsyncs and a checkpoint: about 25 ms
an event on this machine, most of Dagster's overhead over the same build run by the pipeline alone.

This storage keeps one connection per shard (the run's file and the cross-run index), writes them with
`synchronous=NORMAL` (WAL's recommended setting: a commit is safe when a process is killed; a power cut
can lose the last commits, never the file), and checkpoints the WAL into the database file:
- at most every CHECKPOINT_SECONDS, because the web UI follows a live run by watching the run's .db file
  change (SqliteEventLogStorageWatchdog), so a run shown in the UI lags at most that long;
- at once when a run's status changes (started, succeeded, failed, cancelled), so the UI sees a run end
  as soon as it ends;
- when the storage is disposed, or a shard's connection is dropped to keep at most KEPT_SHARDS open.

The files and their layout are Dagster's own (<DAGSTER_HOME>/history/runs/<run id>.db and index.db), so
`dagster dev`, the erasure scan of Dagster's storage (orchestration/privacy/places.py) and any other
Dagster process read them as before. Configured in .dagster/dagster.yaml."""

from __future__ import annotations

import os
import threading
import time
from collections import OrderedDict
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Any

from dagster._config import StringSource
from dagster._core.events import EVENT_TYPE_TO_PIPELINE_RUN_STATUS
from dagster._core.events.log import EventLogEntry
from dagster._core.storage.event_log import SqliteEventLogStorage
from dagster._serdes import ConfigurableClassData
from sqlalchemy import Connection, Engine, create_engine, event

CHECKPOINT_SECONDS = 1.0
KEPT_SHARDS = 8
BUSY_TIMEOUT_SECONDS = 30


def _wal_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    try:
        cursor.execute("PRAGMA synchronous=NORMAL")
    finally:
        cursor.close()


class KeptConnectionEventLogStorage(SqliteEventLogStorage):
    """SqliteEventLogStorage with one kept connection per shard (see the module's docstring).

    Configured by the Dagster home folder rather than the event log folder, so that dagster.yaml can take
    it from DAGSTER_HOME: `config: {dagster_home: {env: DAGSTER_HOME}}`."""

    def __init__(self, base_dir: str, inst_data: ConfigurableClassData | None = None) -> None:
        self._engines: OrderedDict[str, Engine] = OrderedDict()
        self._checkpointed_at: dict[str, float] = {}
        self._engines_lock = threading.Lock()
        super().__init__(base_dir, inst_data)

    @classmethod
    def config_type(cls) -> Any:
        return {"dagster_home": StringSource}

    @classmethod
    def from_config_value(  # type: ignore[override]
        cls, inst_data: ConfigurableClassData | None, config_value: Mapping[str, Any]
    ) -> KeptConnectionEventLogStorage:
        # Dagster's default event log folder under its home (dagster._core.instance.ref).
        return cls(os.path.join(config_value["dagster_home"], "history", "runs"), inst_data)

    def _engine(self, shard: str) -> Engine:
        """The shard's engine: one kept connection, plus short-lived ones for Dagster's nested uses
        (its schema check opens a second connection while the first is open)."""
        with self._engines_lock:
            engine = self._engines.pop(shard, None)
            if engine is None:
                engine = create_engine(
                    self.conn_string_for_shard(shard),
                    pool_size=1,
                    max_overflow=4,
                    connect_args={"timeout": BUSY_TIMEOUT_SECONDS},
                )
                event.listen(engine, "connect", _wal_pragmas)
            self._engines[shard] = engine
            while len(self._engines) > KEPT_SHARDS:
                old_shard, old = self._engines.popitem(last=False)
                self._checkpointed_at.pop(old_shard, None)
                old.dispose()  # closing the last connection checkpoints the file
            return engine

    @contextmanager
    def _connect(self, shard: str) -> Iterator[Connection]:
        with self._db_lock:
            engine = self._engine(shard)
            if shard not in self._initialized_dbs:
                self._initdb(engine)
                self._initialized_dbs.add(shard)
            with engine.connect() as conn:
                with conn.begin():
                    yield conn
                now = time.monotonic()
                if now - self._checkpointed_at.get(shard, 0.0) >= CHECKPOINT_SECONDS:
                    self._checkpoint(conn, shard, now)

    def _checkpoint(self, conn: Connection, shard: str, now: float) -> None:
        # PASSIVE: never waits for readers; what it cannot copy now goes at the next checkpoint.
        conn.exec_driver_sql("PRAGMA wal_checkpoint(PASSIVE)")
        self._checkpointed_at[shard] = now

    def store_event(self, event: EventLogEntry) -> None:
        super().store_event(event)
        if event.is_dagster_event and event.dagster_event_type in EVENT_TYPE_TO_PIPELINE_RUN_STATUS:
            with self._db_lock:
                engine = self._engine(event.run_id)
                with engine.connect() as conn:
                    self._checkpoint(conn, event.run_id, time.monotonic())

    def dispose(self) -> None:
        super().dispose()
        with self._engines_lock:
            while self._engines:
                shard, engine = self._engines.popitem()
                self._checkpointed_at.pop(shard, None)
                engine.dispose()
