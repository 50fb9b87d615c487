"""The sync engine's own DuckDB database: per-sync state, the in-flight journal, run history, record log.

It lives in a file of its own, never in the warehouse: DuckDB allows one writer, and analysts read the
published warehouse. `publish_state` gives analysts a read-only copy of it in the same way."""

from __future__ import annotations

import logging
import shutil
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import duckdb

from orchestration.sync.destinations.base import DELETE_OPERATIONS
from orchestration.sync.redact import redact
from orchestration.warehouse.files import written_aside

if TYPE_CHECKING:
    import pyarrow as pa

log = logging.getLogger(__name__)

SCHEMA = [
    """
    create table if not exists sync_runs (
        run_id varchar primary key,
        sync_name varchar not null,
        destination varchar,
        mode varchar,
        status varchar not null,
        forced boolean,
        started_at timestamp not null,
        finished_at timestamp,
        source_rows bigint,
        adds bigint,
        changes bigint,
        removes bigint,
        unchanged bigint,
        invalid bigint,
        consent_excluded bigint,
        skipped bigint,
        removes_suppressed bigint,
        sent bigint,
        succeeded bigint,
        failed bigint,
        recovered bigint,
        requests bigint,
        error varchar
    )
    """,
    # Added after the first release: state databases created before it gain the column.
    "alter table sync_runs add column if not exists rejected bigint",
    "alter table sync_runs add column if not exists removes_held bigint",
    "alter table sync_runs add column if not exists hold_reason varchar",
    "alter table sync_runs add column if not exists removals_approved boolean",
    "alter table sync_runs add column if not exists holdout_excluded bigint",
    "alter table sync_runs add column if not exists global_holdout_excluded bigint",
    "alter table sync_runs add column if not exists deferred bigint",
    "alter table sync_runs add column if not exists capped bigint",
    "alter table sync_runs add column if not exists timezone_unknown bigint",
    # The adds frequency caps count: one row per record a sync with a channel added and the destination
    # confirmed (never removals, changes, held-out, deferred or capped records), written in the same
    # transaction as the record's state. Erasure deletes a person's rows with the rest of their state.
    """
    create table if not exists sync_sends (
        channel varchar not null,
        key varchar not null,
        sync_name varchar not null,
        run_id varchar not null,
        sent_at timestamp not null
    )
    """,
    "create index if not exists sync_sends_channel_key on sync_sends (channel, key, sent_at)",
    # Records a sync holds back now (status `deferred`: quiet hours; `capped`: a frequency cap), one row
    # per sync and key, replaced by every run that applies timing. A record is written to the record log
    # when it starts waiting (or its status changes), not on every run that keeps it waiting.
    """
    create table if not exists sync_waiting (
        sync_name varchar not null,
        key varchar not null,
        status varchar not null,
        reason varchar,
        since timestamp not null
    )
    """,
    """
    create table if not exists sync_record_log (
        sync_name varchar not null,
        run_id varchar not null,
        key varchar,
        operation varchar not null,
        status varchar not null,
        error varchar,
        consent_basis varchar,
        idempotency_key varchar,
        logged_at timestamp not null
    )
    """,
    """
    create table if not exists sync_journal (
        idempotency_key varchar primary key,
        sync_name varchar not null,
        run_id varchar not null,
        operation varchar not null,
        record_count integer not null,
        items varchar not null,
        attempts integer not null,
        last_error varchar,
        created_at timestamp not null
    )
    """,
]

STATE_COLUMNS = """
    key varchar primary key,
    payload_hash varchar,
    payload varchar,
    destination_id varchar,
    status varchar not null,
    attempts integer not null,
    attempted_hash varchar,
    last_error varchar,
    last_sent_at timestamp
"""


def state_table(sync_name: str) -> str:
    """The per-sync state table. Sync names are validated identifiers, so this is safe to interpolate."""
    return f"state__{sync_name}"


def utcnow() -> datetime:
    return datetime.now(UTC).replace(tzinfo=None)


@dataclass
class Outcome:
    """One record's fate in one batch, with what state needs to remember about it."""

    key: str
    operation: str
    ok: bool
    error: str | None = None
    payload_hash: str | None = None
    payload: str | None = None
    destination_id: str | None = None
    replace: bool = False
    consent_basis: str | None = None
    # Refused for its data (the destination's documented permanent error): not resent until it changes.
    permanent: bool = False
    # The diff's kind ('add', 'change', 'remove'; None for batches journaled before it was kept) and the
    # sync's channel: a confirmed add on a channel is a send frequency caps count (table sync_sends).
    change: str | None = None
    channel: str | None = None
    # When the engine sent it (naive UTC, its wall clock, as frequency-cap windows are read); default now.
    sent_at: datetime | None = None

    @property
    def counts_as_send(self) -> bool:
        return (
            self.ok
            and self.change == "add"
            and self.channel is not None
            and self.operation not in DELETE_OPERATIONS
        )


@dataclass
class PendingBatch:
    idempotency_key: str
    run_id: str
    operation: str
    items: str
    attempts: int
    created_at: datetime


@dataclass
class RunRow:
    run_id: str
    sync_name: str
    destination: str
    mode: str
    status: str
    forced: bool
    started_at: datetime
    finished_at: datetime | None = None
    counts: dict[str, int] = field(default_factory=dict)
    error: str | None = None
    hold_reason: str | None = None
    removals_approved: bool = False

    # The run-history statements, written once for every store; `mark` is the driver's placeholder.

    def insert_statement(self, mark: str) -> tuple[str, list[Any]]:
        columns = ("run_id", "sync_name", "destination", "mode", "status", "forced", "started_at")
        sql = f"insert into sync_runs ({', '.join(columns)}) values ({', '.join([mark] * len(columns))})"
        return sql, [getattr(self, name) for name in columns]

    def finish_statement(self, mark: str) -> tuple[str, list[Any]]:
        assigned = ("status", "finished_at", "error", "hold_reason", "removals_approved", *RUN_COUNTS)
        sql = (
            f"update sync_runs set {', '.join(f'{name} = {mark}' for name in assigned)} where run_id = {mark}"
        )
        values = [self.status, self.finished_at, redact(self.error), self.hold_reason, self.removals_approved]
        return sql, [*values, *(self.counts.get(name, 0) for name in RUN_COUNTS), self.run_id]


# The state upserts after a batch, written once for every store; `mark` is the driver's placeholder
# for the time sent. They read the temporary tables `_sync_ok` and `_sync_failed` the store fills.


def record_sent_sql(table: str, mark: str) -> str:
    """Records the destination confirmed: synced, with the payload now there."""
    return f"""
        insert into {table} as s
            (key, payload_hash, payload, destination_id, status, attempts, attempted_hash,
             last_error, last_sent_at)
        select key, payload_hash, payload, destination_id, 'synced', 0, payload_hash, null, {mark}
        from _sync_ok
        on conflict (key) do update set
            payload_hash = excluded.payload_hash,
            payload = excluded.payload,
            destination_id = coalesce(excluded.destination_id, s.destination_id),
            status = 'synced',
            attempts = 0,
            attempted_hash = excluded.attempted_hash,
            last_error = null,
            last_sent_at = excluded.last_sent_at
    """


def record_refused_sql(table: str, mark: str) -> str:
    """Records the destination refused or that failed: attempts count refusals of the same data,
    and changed data starts afresh."""
    return f"""
        insert into {table} as s
            (key, payload_hash, payload, destination_id, status, attempts, attempted_hash,
             last_error, last_sent_at)
        select key, null, null, null, status, 1, attempted_hash, error, {mark} from _sync_failed
        on conflict (key) do update set
            status = excluded.status,
            attempts = case
                when s.attempted_hash is not distinct from excluded.attempted_hash
                    then s.attempts + 1
                else 1
            end,
            attempted_hash = excluded.attempted_hash,
            last_error = excluded.last_error,
            last_sent_at = excluded.last_sent_at
    """


def newly_held_out_sql(table: str) -> str:
    """The held-out rows of the current diff (`_sync_source`) whose state does not already record them
    as held out for the same reason: a member is logged once when it enters the holdout, not every run."""
    return f"""
        select s.key, s.held_out
        from _sync_source as s
        left join {table} as t
            on s.key = t.key
        where s.key is not null and s.key_count = 1 and s.held_out is not null
            and (t.key is null or t.status <> 'held_out' or t.last_error is distinct from s.held_out)
        order by s.key
    """


def released_holdouts_sql(table: str) -> str:
    """State rows that only remember a holdout (nothing at the destination) for keys no longer held out
    in the current diff (they left the audience, or the holdout): forgotten, so a later entry is logged."""
    return f"""
        select t.key
        from {table} as t
        where t.status = 'held_out' and t.payload_hash is null
            and not exists (
                select 1 from _sync_source as s
                where s.key = t.key and s.key_count = 1 and s.held_out is not null
            )
    """


def restored_holdouts_sql(table: str) -> str:
    """State rows held out while their record stayed at the destination (an upsert, insert or update sync
    cannot remove it), for keys no longer held out: back to `synced`, so a later entry is logged again."""
    return f"""
        select t.key
        from {table} as t
        where t.status = 'held_out' and t.payload_hash is not null
            and not exists (
                select 1 from _sync_source as s
                where s.key = t.key and s.key_count = 1 and s.held_out is not null
            )
    """


def record_held_out_sql(table: str) -> str:
    """Held-out keys (temp table `_sync_held`: key, reason) remembered in state. A record already at the
    destination keeps its payload: a mirror or audience sync removes it, an upsert sync leaves it."""
    return f"""
        insert into {table} as s
            (key, payload_hash, payload, destination_id, status, attempts, attempted_hash,
             last_error, last_sent_at)
        select key, null, null, null, 'held_out', 0, null, reason, null from _sync_held
        on conflict (key) do update set
            status = 'held_out',
            last_error = excluded.last_error
    """


def record_removed_sql(table: str) -> list[str]:
    """Records a destination confirmed removed (temp table `_sync_removed`): gone from state, except that
    a held-out key keeps its row without a payload, so it is not logged as entering the holdout again."""
    return [
        f"update {table} set payload_hash = null, payload = null, destination_id = null "
        "where status = 'held_out' and key in (select key from _sync_removed)",
        f"delete from {table} where status <> 'held_out' and key in (select key from _sync_removed)",
    ]


RUN_COUNTS = (
    "source_rows",
    "adds",
    "changes",
    "removes",
    "unchanged",
    "invalid",
    "consent_excluded",
    "skipped",
    "removes_suppressed",
    "sent",
    "succeeded",
    "failed",
    "recovered",
    "requests",
    "rejected",
    "removes_held",
    "holdout_excluded",
    "global_holdout_excluded",
    "deferred",
    "capped",
    "timezone_unknown",
)


def channel_sends_sql(channel: str, since: datetime) -> str:
    """Per key, the confirmed adds on `channel` since `since` (naive UTC), across every sync."""
    return (
        f"select key, count(*) as sends from sync_sends where channel = '{channel}' "
        f"and sent_at >= '{since.isoformat(sep=' ')}' group by key"
    )


class StateStore:
    """Read-write access to the state database. One process at a time: DuckDB's file lock enforces it."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        try:
            self.conn = duckdb.connect(str(self.path))
        except duckdb.IOException as exc:
            raise RuntimeError(
                f"the sync state database {self.path} is in use by another process: {exc}"
            ) from None
        for statement in SCHEMA:
            self.conn.execute(statement)

    def ensure_sync(self, sync_name: str) -> str:
        table = state_table(sync_name)
        self.conn.execute(f"create table if not exists {table} ({STATE_COLUMNS})")
        return table

    # run history

    def mark_interrupted(self, sync_name: str) -> int:
        """Mark runs a killed process left 'running'; their unconfirmed batches are still in the journal."""
        rows = self.conn.execute(
            "update sync_runs set status = 'interrupted', finished_at = coalesce(finished_at, ?) "
            "where sync_name = ? and status = 'running' returning run_id",
            [utcnow(), sync_name],
        ).fetchall()
        return len(rows)

    def start_run(self, run: RunRow) -> None:
        self.conn.execute(*run.insert_statement("?"))

    def finish_run(self, run: RunRow) -> None:
        self.conn.execute(*run.finish_statement("?"))

    def last_released_run(self, sync_name: str) -> datetime | None:
        """When the last run that was free to remove records started: held, aborted, failed and
        interrupted runs do not count, so upstream changes stay in view until removals are released."""
        row = self.conn.execute(
            "select max(started_at) from sync_runs where sync_name = ? and status in ('success', 'partial')",
            [sync_name],
        ).fetchone()
        return row[0] if row else None

    # the journal of batches sent but not yet confirmed

    def add_pending(
        self, sync_name: str, run_id: str, idempotency_key: str, operation: str, items: str, count: int
    ) -> None:
        self.conn.execute(
            "insert into sync_journal values (?, ?, ?, ?, ?, ?, 0, null, ?)",
            [idempotency_key, sync_name, run_id, operation, count, items, utcnow()],
        )

    def bump_pending(self, idempotency_key: str, error: str) -> None:
        self.conn.execute(
            "update sync_journal set attempts = attempts + 1, last_error = ? where idempotency_key = ?",
            [(redact(error) or "")[:1000], idempotency_key],
        )

    def pending(self, sync_name: str) -> list[PendingBatch]:
        rows = self.conn.execute(
            "select idempotency_key, run_id, operation, items, attempts, created_at from sync_journal "
            "where sync_name = ? order by created_at, idempotency_key",
            [sync_name],
        ).fetchall()
        return [PendingBatch(*row) for row in rows]

    # committing what a destination confirmed

    def commit(
        self, sync_name: str, run_id: str, idempotency_key: str | None, outcomes: list[Outcome]
    ) -> None:
        """In one transaction: state for confirmed and refused records, their log rows, and the journal
        row of the batch (gone once its outcome is recorded)."""
        import pyarrow as pa  # imported here: a run with nothing to send never needs it

        table = state_table(sync_name)
        now = utcnow()
        sends_ok = [o for o in outcomes if o.ok and o.operation not in DELETE_OPERATIONS]
        removed = [o for o in outcomes if o.ok and o.operation in DELETE_OPERATIONS and not o.replace]
        failed = [o for o in outcomes if not o.ok]
        conn = self.conn
        conn.execute("begin transaction")
        try:
            if sends_ok:
                conn.register(
                    "_sync_ok", _table(sends_ok, ["key", "payload_hash", "payload", "destination_id"])
                )
                conn.execute(record_sent_sql(table, "?"), [now])
                conn.unregister("_sync_ok")
            counted = [o for o in sends_ok if o.counts_as_send]
            if counted:
                conn.register("_sync_counted", _table(counted, ["channel", "key"]))
                conn.execute(
                    "insert into sync_sends select channel, key, ?, ?, ? from _sync_counted",
                    [sync_name, run_id, counted[0].sent_at or now],
                )
                conn.unregister("_sync_counted")
            if removed:
                conn.register("_sync_removed", _table(removed, ["key"]))
                for statement in record_removed_sql(table):
                    conn.execute(statement)
                conn.unregister("_sync_removed")
            if failed:
                rows = [
                    {
                        "key": o.key,
                        "attempted_hash": None if o.operation in DELETE_OPERATIONS else o.payload_hash,
                        "error": (redact(o.error) or "failed")[:2000],
                        "status": "rejected"
                        if o.permanent and o.operation not in DELETE_OPERATIONS
                        else "failed",
                    }
                    for o in failed
                ]
                conn.register("_sync_failed", pa.Table.from_pylist(rows, schema=_failed_schema()))
                conn.execute(record_refused_sql(table, "?"), [now])
                conn.unregister("_sync_failed")
            if outcomes:
                log_rows = [
                    {
                        "key": o.key,
                        "operation": o.operation,
                        "status": "succeeded" if o.ok else ("rejected" if o.permanent else "failed"),
                        "error": redact(o.error),
                        "consent_basis": o.consent_basis,
                    }
                    for o in outcomes
                ]
                conn.register("_sync_log", pa.Table.from_pylist(log_rows, schema=_log_schema()))
                conn.execute(
                    "insert into sync_record_log "
                    "select ?, ?, key, operation, status, error, consent_basis, ?, ? from _sync_log",
                    [sync_name, run_id, idempotency_key, now],
                )
                conn.unregister("_sync_log")
            if idempotency_key is not None:
                conn.execute("delete from sync_journal where idempotency_key = ?", [idempotency_key])
            conn.execute("commit")
        except BaseException:
            conn.execute("rollback")
            raise

    def channel_sends(self, channel: str, since: datetime) -> None:
        """The temp table `_sync_channel_sends` (key, sends) on the diff connection: confirmed adds on
        `channel` since `since`, across every sync of this store."""
        self.conn.execute(
            "create or replace temp table _sync_channel_sends as " + channel_sends_sql(channel, since)
        )

    def prune_sends(self, channel: str, before: datetime) -> int:
        """Delete the sends on `channel` older than `before` (naive UTC): no cap counts them any more."""
        rows = self.conn.execute(
            "delete from sync_sends where channel = ? and sent_at < ? returning 1", [channel, before]
        ).fetchall()
        return len(rows)

    def log_waiting(self, sync_name: str, run_id: str, rows: list[tuple[str, str, str, str]]) -> int:
        """The records this run holds back (key, operation, status, reason) become the sync's
        `sync_waiting`; those not already waiting with that status are logged. One transaction."""
        import pyarrow as pa

        now = utcnow()
        waiting = {
            key: (status, since)
            for key, status, since in self.conn.execute(
                "select key, status, since from sync_waiting where sync_name = ?", [sync_name]
            ).fetchall()
        }
        if not rows and not waiting:
            return 0
        new = [row for row in rows if waiting.get(row[0], (None,))[0] != row[2]]
        new_keys = {row[0] for row in new}
        table = pa.table(
            {
                "key": pa.array([row[0] for row in rows], pa.string()),
                "operation": pa.array([row[1] for row in rows], pa.string()),
                "status": pa.array([row[2] for row in rows], pa.string()),
                "reason": pa.array([row[3] for row in rows], pa.string()),
                "since": pa.array(
                    [now if row[0] in new_keys else waiting[row[0]][1] for row in rows], pa.timestamp("us")
                ),
                "new": pa.array([row[0] in new_keys for row in rows], pa.bool_()),
            }
        )
        conn = self.conn
        conn.execute("begin transaction")
        try:
            conn.execute("delete from sync_waiting where sync_name = ?", [sync_name])
            conn.register("_sync_waiting", table)
            conn.execute(
                "insert into sync_waiting select ?, key, status, reason, since from _sync_waiting",
                [sync_name],
            )
            conn.execute(
                "insert into sync_record_log "
                "select ?, ?, key, operation, status, reason, null, null, ? from _sync_waiting where new",
                [sync_name, run_id, now],
            )
            conn.unregister("_sync_waiting")
            conn.execute("commit")
        except BaseException:
            conn.execute("rollback")
            raise
        return len(new)

    def log_invalid(self, sync_name: str, run_id: str) -> int:
        """Log the invalid keys found by the current diff (rows with a null or duplicated primary key)."""
        rows = self.conn.execute(
            """
            insert into sync_record_log
            select distinct ?, ?, key, 'none', 'invalid',
                case when key is null then 'null primary key' else 'duplicate primary key' end, null, null, ?
            from _sync_source
            where key is null or key_count > 1
            returning 1
            """,
            [sync_name, run_id, utcnow()],
        ).fetchall()
        return len(rows)

    def log_held_out(self, sync_name: str, run_id: str) -> int:
        """Log the keys of the current diff newly held out (status `held_out`, the reason in `error`) and
        remember them in state, in one transaction."""
        import pyarrow as pa

        table = state_table(sync_name)
        rows = self.conn.execute(newly_held_out_sql(table)).fetchall()
        released = self.conn.execute(released_holdouts_sql(table)).fetchall()
        restored = self.conn.execute(restored_holdouts_sql(table)).fetchall()
        if not rows and not released and not restored:
            return 0
        conn = self.conn
        conn.execute("begin transaction")
        try:
            if restored:
                conn.register(
                    "_sync_restored", pa.table({"key": pa.array([k for (k,) in restored], pa.string())})
                )
                conn.execute(
                    f"update {table} set status = 'synced', last_error = null "
                    "where key in (select key from _sync_restored)"
                )
                conn.unregister("_sync_restored")
            if released:
                conn.register(
                    "_sync_released", pa.table({"key": pa.array([k for (k,) in released], pa.string())})
                )
                conn.execute(f"delete from {table} where key in (select key from _sync_released)")
                conn.unregister("_sync_released")
            if rows:
                held = pa.table(
                    {
                        "key": pa.array([key for key, _ in rows], pa.string()),
                        "reason": pa.array([reason for _, reason in rows], pa.string()),
                    }
                )
                conn.register("_sync_held", held)
                conn.execute(
                    "insert into sync_record_log "
                    "select ?, ?, key, 'none', 'held_out', reason, null, null, ? from _sync_held",
                    [sync_name, run_id, utcnow()],
                )
                conn.execute(record_held_out_sql(table))
                conn.unregister("_sync_held")
            conn.execute("commit")
        except BaseException:
            conn.execute("rollback")
            raise
        return len(rows)

    def checkpoint(self) -> None:
        self.conn.execute("checkpoint")

    def close(self) -> None:
        try:
            self.conn.close()
        except duckdb.Error:
            log.warning("closing the sync state database failed", exc_info=True)


def _failed_schema() -> pa.Schema:
    import pyarrow as pa

    names = ("key", "attempted_hash", "error", "status")
    return pa.schema([(name, pa.string()) for name in names])


def _log_schema() -> pa.Schema:
    import pyarrow as pa

    names = ("key", "operation", "status", "error", "consent_basis")
    return pa.schema([(name, pa.string()) for name in names])


def _table(outcomes: list[Outcome], columns: list[str]) -> pa.Table:
    import pyarrow as pa

    return pa.table(
        {name: pa.array([getattr(o, name) for o in outcomes], type=pa.string()) for name in columns}
    )


def publish_state(state_path: str | Path, published_path: str | Path) -> Path:
    """Give analysts a read-only copy of the state database: checkpoint, copy beside the target, rename.

    Readers of `published_path` see either the previous copy or the new one, never a half-written file,
    and never hold a lock on the file the engine writes. Fails if a sync is running on `state_path`."""
    source = Path(state_path)
    target = Path(published_path)
    try:
        conn = duckdb.connect(str(source))
    except duckdb.IOException as exc:
        raise RuntimeError(f"cannot publish {source} while a sync is using it: {exc}") from None
    try:
        conn.execute("checkpoint")
    finally:
        conn.close()
    with written_aside(target, durable=True) as aside:
        shutil.copyfile(source, aside)
    log.info("published sync state to %s", target)
    return target


def read_state_rows(conn: Any, sync_name: str) -> list[tuple[Any, ...]]:
    """Every state row of a sync (for tests and tooling)."""
    return conn.execute(f"select * from {state_table(sync_name)} order by key").fetchall()
