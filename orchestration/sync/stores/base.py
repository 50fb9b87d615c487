"""What a sync store offers the engine: the published source as DuckDB relations, and the sync's state.

The diff is DuckDB SQL on every warehouse (orchestration/sync/diff.py), so that payloads, hashes and
counts mean the same everywhere. A store gives the diff a DuckDB connection on which the sync's state
table is readable under `state_table(name)`, and a source whose tables it can read there. State is
written back through the store, in the warehouse's own place for it."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from datetime import datetime
from typing import Any, Protocol

import duckdb

from orchestration.sync.state import Outcome, PendingBatch, RunRow

# Rows a forgotten person had in one sync's state: (key, destination_id, payload).
HeldRows = list[tuple[str, str | None, str | None]]
# Builds a SQL condition over (column name, data type) pairs that is true for a row holding a term.
ConditionFor = Callable[[list[tuple[str, str]]], str | None]


class SourceTables(Protocol):
    """The published tables, readable on one DuckDB connection for the length of a diff."""

    def columns(self, schema: str, table: str) -> list[str] | None:
        """The table's column names; None when the table does not exist."""

    def relation(
        self, schema: str, table: str, columns: list[str], where: tuple[str, str] | None = None
    ) -> str:
        """A relation on the connection holding (at least) `columns` of every row of the table, or only
        of the rows whose column `where[0]` equals `where[1]` (an audience source's one audience)."""


class SyncSource(Protocol):
    """The published build a sync reads (read-only)."""

    def exists(self) -> bool:
        """Whether anything is published."""

    def describe(self) -> str: ...

    def open(self, conn: duckdb.DuckDBPyConnection) -> AbstractContextManager[SourceTables]:
        """The published tables on `conn`, for the duration of the block."""


class SyncStore(Protocol):
    """The sync engine's own state and history: per-sync state tables, the journal of unconfirmed batches,
    sync_runs and sync_record_log. One run per store at a time."""

    def ensure_sync(self, sync_name: str) -> str: ...

    def diff_connection(self, sync_name: str) -> duckdb.DuckDBPyConnection:
        """A DuckDB connection where `state_table(sync_name)` holds the sync's state as committed now."""

    def mark_interrupted(self, sync_name: str) -> int: ...

    def start_run(self, run: RunRow) -> None: ...

    def finish_run(self, run: RunRow) -> None: ...

    def last_released_run(self, sync_name: str) -> datetime | None: ...

    def add_pending(
        self, sync_name: str, run_id: str, idempotency_key: str, operation: str, items: str, count: int
    ) -> None: ...

    def bump_pending(self, idempotency_key: str, error: str) -> None: ...

    def pending(self, sync_name: str) -> list[PendingBatch]: ...

    def commit(
        self, sync_name: str, run_id: str, idempotency_key: str | None, outcomes: list[Outcome]
    ) -> None: ...

    def log_invalid(self, sync_name: str, run_id: str) -> int:
        """Log the invalid keys of the current diff (`_sync_source` on the diff connection)."""

    def log_held_out(self, sync_name: str, run_id: str) -> int:
        """Log the rows of the current diff held out of every send (status `held_out`, the reason
        `holdout` or `global_holdout` in `error`) that state does not already record as held out for
        that reason, and record it in state: a member is logged when it enters the holdout."""

    def channel_sends(self, channel: str, since: datetime) -> None:
        """The temp table `_sync_channel_sends` (key, sends) on the diff connection: the adds on `channel`
        the destinations confirmed since `since` (naive UTC), across every sync of this store (table
        sync_sends). Read under the store's lock, so no other run can send in between."""

    def prune_sends(self, channel: str, before: datetime) -> int:
        """Delete the rows of sync_sends on `channel` sent before `before` (naive UTC); how many."""

    def log_waiting(self, sync_name: str, run_id: str, rows: list[tuple[str, str, str, str]]) -> int:
        """The records this run holds back, (key, operation, status, reason) with status `deferred`
        (quiet hours) or `capped` (a frequency cap): not sent, state unchanged. They replace the sync's
        rows of `sync_waiting`; those that were not already waiting with that status are written to
        the record log (a record is logged when it starts waiting, not on every run). Returns how many
        were logged."""

    def checkpoint(self) -> None: ...

    def close(self) -> None: ...

    def forget(
        self,
        keys: list[str],
        condition_for: ConditionFor,
        journal_terms: list[str],
        hold: Callable[[str, HeldRows], None],
    ) -> dict[str, int]:
        """Erase a person: state rows whose key is in `keys` or that match `condition_for` (handed to
        `hold(sync_name, rows)` before they are deleted, so the destinations can be told), their
        record-log rows, and their entries in unconfirmed batches (matched by key or, lower-cased, by
        `journal_terms`). Returns the counts per table."""


def journal_without(items: str, keys: set[str], lowered_terms: list[str]) -> tuple[list[Any], int]:
    """A journal batch's entries without the person's (by key, or a term anywhere in the entry)."""
    import json

    entries = json.loads(items)
    kept = [
        e
        for e in entries
        if str(e.get("k")) not in keys and not any(t in json.dumps(e).lower() for t in lowered_terms)
    ]
    return kept, len(entries) - len(kept)


def iter_chunks(rows: list[Any], size: int) -> Iterator[list[Any]]:
    for start in range(0, len(rows), size):
        yield rows[start : start + size]
