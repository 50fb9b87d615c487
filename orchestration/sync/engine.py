"""The reverse-ETL engine: diff, guard, batch, pace, retry, split, and commit only what was confirmed.

Crash safety: before a batch is sent, a journal row holding the exact payload and its idempotency key is
committed. Confirmations and the journal row's removal are committed together afterwards. A process
killed anywhere in between leaves the row behind, and the next run resends that batch, byte for byte and
under the same key, before it diffs. Destinations that take an idempotency key (webhook, Postgres, files)
drop the repeat; the others receive an upsert or audience add of the same values by the same key, which
changes nothing. So no record is lost, and none is applied twice."""

from __future__ import annotations

import json
import logging
import os
import random
import uuid
from collections.abc import Callable, Iterator, Mapping
from dataclasses import asdict, dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from orchestration.sync.config import SyncConfig
from orchestration.sync.destinations.base import (
    DELETE_OPERATIONS,
    Batch,
    Destination,
    DestinationContext,
    Item,
    Limits,
    Record,
    RecordResult,
)
from orchestration.sync.diff import (
    DiffCounts,
    compute_diff,
    hold_removes,
    page_diff,
    samples,
    suppress_removes,
)
from orchestration.sync.errors import (
    BatchRejected,
    DestinationFatalError,
    DestinationUnavailable,
    InvalidRecord,
    RetryableError,
)
from orchestration.sync.holds import upstream_changes
from orchestration.sync.http import HttpSession
from orchestration.sync.ratelimit import Backoff, Clock, SystemClock, TokenBucket
from orchestration.sync.redact import (
    install_log_filter,
    redact,
    register_destination_secrets,
    scrub_exception,
)
from orchestration.sync.state import Outcome, RunRow, channel_sends_sql, utcnow
from orchestration.sync.stores import (
    SyncLocation,
    SyncSource,
    SyncStore,
    duckdb_location,
    open_preview,
    open_source,
    open_store,
    publish_history,
)
from orchestration.sync.timing import apply_timing, as_utc, plan_timing

log = logging.getLogger(__name__)

SEND_OPERATION = {
    "upsert": "upsert",
    "update": "update",
    "insert": "insert",
    "mirror": "upsert",
    "audience": "add",
}
REMOVE_OPERATION = {"mirror": "delete", "audience": "remove"}
PAGE_SIZE = 20_000
# sync_sends rows are kept this long past the longest frequency-cap window of their channel (a window
# is read against each run's own clock; the margin also keeps a cap made longer counting for a while).
SENDS_KEEP_MARGIN = timedelta(days=7)
DIFF_COUNTS = (
    "source_rows",
    "adds",
    "changes",
    "removes",
    "unchanged",
    "invalid",
    "consent_excluded",
    "holdout_excluded",
    "global_holdout_excluded",
    "skipped",
    "removes_suppressed",
)
RUN_ONLY_COUNTS = (
    "sent",
    "succeeded",
    "failed",
    "rejected",
    "removes_held",
    "recovered",
    "requests",
    "deferred",
    "capped",
    "timezone_unknown",
)


@dataclass
class DryRunReport:
    """What a run would do, without sending anything or changing state."""

    sync_name: str
    destination: str
    mode: str
    source_rows: int
    adds: int
    changes: int
    removes: int
    unchanged: int
    invalid: int
    consent_excluded: int
    skipped: int
    removes_suppressed: int
    destination_rows: int
    holdout_excluded: int
    global_holdout_excluded: int
    pending_batches: int
    would_abort: str | None
    samples: dict[str, list[dict[str, Any]]]
    # Held back now, as a run would (not in adds/changes): inside quiet hours, or over a frequency cap.
    deferred: int = 0
    capped: int = 0
    timezone_unknown: int = 0

    def counts(self) -> dict[str, int]:
        return {
            "adds": self.adds,
            "changes": self.changes,
            "removes": self.removes,
            "unchanged": self.unchanged,
            "invalid": self.invalid,
            "consent_excluded": self.consent_excluded,
            "holdout_excluded": self.holdout_excluded,
            "global_holdout_excluded": self.global_holdout_excluded,
            "skipped": self.skipped,
            "deferred": self.deferred,
            "capped": self.capped,
            "timezone_unknown": self.timezone_unknown,
        }


@dataclass
class SyncRunResult:
    """The outcome of one run. `status` is success, partial (some records refused for a reason that may
    pass, to be retried), held (removals held for a person after an upstream change; the rest was
    sent), failed, aborted (a safety guard stopped it before sending) or dry_run. Records
    refused for their data are counted in `rejected` and leave the status at success."""

    run_id: str
    sync_name: str
    status: str
    started_at: datetime
    finished_at: datetime | None = None
    dry_run: bool = False
    forced: bool = False
    source_rows: int = 0
    adds: int = 0
    changes: int = 0
    removes: int = 0
    unchanged: int = 0
    invalid: int = 0
    consent_excluded: int = 0
    # Members held out of every send: the audience's control group, and the global holdout.
    holdout_excluded: int = 0
    global_holdout_excluded: int = 0
    skipped: int = 0
    removes_suppressed: int = 0
    sent: int = 0
    succeeded: int = 0
    failed: int = 0
    recovered: int = 0
    requests: int = 0
    # Records refused for their data (a permanent error) that stand after this run: refused now, or
    # refused earlier and skipped because their data has not changed. They do not make a run partial.
    rejected: int = 0
    # Removals held for a person (status `held`), and why; `--approve-removals` releases them.
    removes_held: int = 0
    hold_reason: str | None = None
    removals_approved: bool = False
    # Adds and changes kept for a later run: inside the recipient's quiet hours (`deferred`), or adds
    # over a frequency cap of the sync's channel (`capped`); not in `adds`/`changes`. Recipients whose
    # time zone is unknown (the default zone was used) are counted in `timezone_unknown`.
    deferred: int = 0
    capped: int = 0
    timezone_unknown: int = 0
    error: str | None = None
    preview: DryRunReport | None = None

    @property
    def ok(self) -> bool:
        return self.status in ("success", "dry_run")

    def counts(self) -> dict[str, int]:
        names = DIFF_COUNTS + RUN_ONLY_COUNTS
        return {name: getattr(self, name) for name in names}

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["started_at"] = self.started_at.isoformat()
        data["finished_at"] = self.finished_at.isoformat() if self.finished_at else None
        return data


@dataclass
class _Entry:
    """A prepared record on its way to the destination, with what state will remember if it is confirmed."""

    item: Item
    payload_hash: str | None
    payload: str | None
    destination_id: str | None
    replace: bool
    consent_basis: str | None
    change: str | None = None

    def to_journal(self) -> dict[str, Any]:
        return {
            "k": self.item.key,
            "b": self.item.body,
            "w": self.item.weight,
            "h": self.payload_hash,
            "p": self.payload,
            "d": self.destination_id,
            "r": self.replace,
            "c": self.consent_basis,
            "x": self.change,
        }

    @classmethod
    def from_journal(cls, data: dict[str, Any]) -> _Entry:
        return cls(
            Item(data["k"], data["b"], weight=data["w"]),
            data["h"],
            data["p"],
            data["d"],
            data["r"],
            data["c"],
            data.get("x"),
        )


class _Batcher:
    """Groups entries into batches within the destination's count, weight and byte limits."""

    def __init__(self, limits: Limits, operation: str) -> None:
        self.max_items = limits.batch_size_for(operation)
        self.max_weight = limits.max_batch_weight
        self.max_bytes = limits.max_batch_bytes
        self._entries: list[_Entry] = []
        self._weight = 0
        self._bytes = 0

    def add(self, entry: _Entry) -> Iterator[list[_Entry]]:
        item = entry.item
        if self._entries and (
            (self.max_weight and self._weight + item.weight > self.max_weight)
            or (self.max_bytes and self._bytes + item.size > self.max_bytes)
        ):
            yield self._take()
        self._entries.append(entry)
        self._weight += item.weight
        self._bytes += item.size
        if len(self._entries) >= self.max_items:
            yield self._take()

    def flush(self) -> Iterator[list[_Entry]]:
        if self._entries:
            yield self._take()

    def _take(self) -> list[_Entry]:
        entries, self._entries, self._weight, self._bytes = self._entries, [], 0, 0
        return entries


def _new_run_id() -> str:
    # Sortable by time, unique across processes.
    return f"{utcnow():%Y%m%dT%H%M%S}-{uuid.uuid4().hex[:10]}"


def _guard(config: SyncConfig, counts: DiffCounts, force: bool) -> str | None:
    """The reason the run must stop before sending anything, or None."""
    if not counts.removes or not counts.destination_rows:
        return None
    share = counts.removes / counts.destination_rows
    limit = config.limits.max_remove_share
    if share > limit and not force:
        return (
            f"would remove {counts.removes} of {counts.destination_rows} records at the destination "
            f"({share:.0%}), above max_remove_share {limit:.0%}; nothing was sent. Force the run to proceed."
        )
    return None


def preview_sync(
    config: SyncConfig,
    warehouse: str | Path | SyncLocation,
    state_path: str | Path | None = None,
    *,
    sample_size: int = 5,
    now: datetime | None = None,
) -> DryRunReport:
    """The dry run: counts of adds, changes, removes, invalid and consent-excluded rows, with samples,
    and what quiet hours would defer and frequency caps would hold back at `now` (default: the system
    clock), counted apart from the adds and changes that would be sent.

    `warehouse` is where the sync reads and keeps state (a SyncLocation, from the warehouse), or a
    published DuckDB file with `state_path` its state file. Nothing is sent, no secret is needed and the
    state (sync_sends and sync_waiting included) is only read."""
    location = duckdb_location(warehouse, state_path)
    with open_preview(location, config.name) as (conn, pending):
        mode = config.mode
        counts = compute_diff(
            conn,
            config,
            open_source(location),
            with_changes=mode != "insert",
            with_removes=mode in REMOVE_OPERATION,
        )
        if counts.removes and counts.eligible == 0:
            suppress_removes(conn, counts)
        timing = plan_timing(
            conn, config, SEND_OPERATION[mode], now or datetime.now(UTC), _read_channel_sends(conn)
        )
        report_samples = samples(conn, limit=sample_size)
        for status in ("deferred", "capped"):
            report_samples[status] = [
                {"key": key, "reason": reason} for key, _, kind, reason in timing.waiting if kind == status
            ][:sample_size]
        return DryRunReport(
            sync_name=config.name,
            destination=config.destination.type,
            mode=mode,
            source_rows=counts.source_rows,
            adds=counts.adds - timing.deferred_adds - timing.capped,
            changes=counts.changes - timing.deferred_changes,
            removes=counts.removes,
            unchanged=counts.unchanged,
            invalid=counts.invalid,
            consent_excluded=counts.consent_excluded,
            skipped=counts.skipped,
            removes_suppressed=counts.removes_suppressed,
            destination_rows=counts.destination_rows,
            holdout_excluded=counts.holdout_excluded,
            global_holdout_excluded=counts.global_holdout_excluded,
            pending_batches=pending,
            would_abort=_guard(config, counts, force=False),
            samples=report_samples,
            deferred=timing.deferred,
            capped=timing.capped,
            timezone_unknown=timing.timezone_unknown,
        )


def _read_channel_sends(conn: Any) -> Callable[[str, datetime], None]:
    """For the dry run: the confirmed adds per key on a channel, read from the state the preview
    connection sees (sync_sends), as `_sync_channel_sends`; a temp table, so nothing is written."""

    def read(channel: str, since: datetime) -> None:
        conn.execute(
            "create or replace temp table _sync_channel_sends as " + channel_sends_sql(channel, since)
        )

    return read


def run_sync(
    config: SyncConfig,
    warehouse: str | Path | SyncLocation,
    state_path: str | Path | None = None,
    *,
    dry_run: bool = False,
    force: bool = False,
    env: Mapping[str, str] | None = None,
    clock: Clock | None = None,
    rng: random.Random | None = None,
    publish_to: str | Path | None = None,
    approve_removals: bool = False,
    freshness_path: str | Path | None = None,
    now: Callable[[], datetime] | None = None,
) -> SyncRunResult:
    """Run one sync: read `config.source.model` from the published warehouse (read-only), diff it against
    this sync's state, send what changed and record the outcome. `warehouse` is a SyncLocation (from
    `Warehouse.sync_location()`: the published data and the state's place, on any warehouse), or a
    published DuckDB file with `state_path` its state file.

    `force` lets a run past the removal-share guard (never past the empty-source guard). `env` supplies
    the secrets (default: the process environment); `clock` and `rng` make waits and jitter testable.
    With `publish_to` (a DuckDB state file), a read-only copy of it is published there after the run; a
    SyncLocation's own `history` is published likewise.
    `approve_removals` releases removals an upstream change would hold; `freshness_path` is dbt's
    `sources.json`, read for failed freshness checks (orchestration/sync/holds.py). `now` is the wall
    clock quiet hours and frequency-cap windows are read against (default: the system's, in UTC)."""
    if dry_run:
        started = utcnow()
        report = preview_sync(config, warehouse, state_path, now=now() if now is not None else None)
        result = SyncRunResult(
            run_id=_new_run_id(),
            sync_name=config.name,
            status="dry_run",
            started_at=started,
            finished_at=utcnow(),
            dry_run=True,
            source_rows=report.source_rows,
            adds=report.adds,
            changes=report.changes,
            removes=report.removes,
            unchanged=report.unchanged,
            invalid=report.invalid,
            consent_excluded=report.consent_excluded,
            holdout_excluded=report.holdout_excluded,
            global_holdout_excluded=report.global_holdout_excluded,
            skipped=report.skipped,
            removes_suppressed=report.removes_suppressed,
            deferred=report.deferred,
            capped=report.capped,
            timezone_unknown=report.timezone_unknown,
            preview=report,
            error=report.would_abort,
        )
        return result
    location = duckdb_location(warehouse, state_path, publish_to)
    runner = _Runner(config, location, force, env or os.environ, clock, rng)
    runner.approve_removals = approve_removals
    runner.freshness_path = Path(freshness_path) if freshness_path is not None else None
    if now is not None:
        runner.now = now
    result = runner.run()
    publish_history(location)
    return result


class _Runner:
    def __init__(
        self,
        config: SyncConfig,
        location: SyncLocation,
        force: bool,
        env: Mapping[str, str],
        clock: Clock | None,
        rng: random.Random | None,
    ) -> None:
        self.config = config
        self.location = location
        self.source: SyncSource = open_source(location)
        self.force = force
        self.env = env
        self.clock = clock or SystemClock()
        self.backoff = Backoff(
            base=config.limits.backoff_base_seconds,
            cap=config.limits.backoff_max_seconds,
            rng=rng or random.Random(),
        )
        self.result = SyncRunResult(
            run_id=_new_run_id(), sync_name=config.name, status="running", started_at=utcnow(), forced=force
        )
        self.settings = config.destination
        self.limits = self.settings.limits()
        self.bucket: TokenBucket | None = None
        self.http: HttpSession | None = None
        self.destination: Destination | None = None
        self.store: SyncStore | None = None
        self._diff_conn: Any = None
        self._batch_seq = 0
        self._blocked: set[str] = set()
        self.approve_removals = False
        self.freshness_path: Path | None = None
        self.now: Callable[[], datetime] = lambda: datetime.now(UTC)

    # the run

    def run(self) -> SyncRunResult:
        config = self.config
        # Before anything can fail or log: the secrets this run may hold are known to the redactor.
        install_log_filter()
        register_destination_secrets(self.settings, self.env)
        store = self.store = open_store(self.location)
        run_row = RunRow(
            run_id=self.result.run_id,
            sync_name=config.name,
            destination=self.settings.type,
            mode=config.mode,
            status="running",
            forced=self.force,
            started_at=self.result.started_at,
        )
        try:
            store.ensure_sync(config.name)
            interrupted = store.mark_interrupted(config.name)
            if interrupted:
                log.warning("sync %s: %d earlier run(s) were interrupted", config.name, interrupted)
            store.start_run(run_row)
            try:
                self._build_destination()
                self._run_body()
            except (DestinationFatalError, DestinationUnavailable) as exc:
                self.result.status = "failed"
                self.result.error = redact(str(exc))
                log.error("sync %s failed: %s", config.name, self.result.error)
            finally:
                self._close_destination()
        except BaseException as exc:
            scrub_exception(exc)
            self.result.status = "failed"
            self.result.error = redact(f"{type(exc).__name__}: {exc}")
            raise
        finally:
            self.result.finished_at = utcnow()
            self.result.requests = self._requests()
            run_row.status = self.result.status
            run_row.finished_at = self.result.finished_at
            run_row.error = self.result.error
            run_row.hold_reason = self.result.hold_reason
            run_row.removals_approved = self.result.removals_approved
            run_row.counts = self.result.counts()
            try:
                store.finish_run(run_row)
                store.checkpoint()
            finally:
                store.close()
        log.info(
            "sync %s run %s: %s (%s)",
            config.name,
            self.result.run_id,
            self.result.status,
            ", ".join(f"{k}={v}" for k, v in self.result.counts().items() if v),
        )
        return self.result

    def _run_body(self) -> None:
        config, store, result = self.config, self.store, self.result
        assert store is not None
        self._recover()
        mode = config.mode
        # The diff runs in DuckDB on every warehouse; the store says where (orchestration/sync/stores/).
        conn = self._diff_conn = store.diff_connection(config.name)
        counts = compute_diff(
            conn,
            config,
            self.source,
            with_changes=mode != "insert",
            with_removes=mode in REMOVE_OPERATION,
        )
        if counts.removes and counts.eligible == 0:
            log.warning(
                "sync %s: the source has no eligible rows, so the %d removes are not sent",
                config.name,
                counts.removes,
            )
            suppress_removes(conn, counts)
        for name in DIFF_COUNTS:
            setattr(result, name, getattr(counts, name))
        result.rejected = counts.skipped_rejected
        # Control-group and global-holdout members are never eligible, in any mode; a record sent before
        # its customer entered the holdout is removed by a mirror or audience sync like any other.
        newly = store.log_held_out(config.name, result.run_id)
        if newly:
            log.info("sync %s: %d members newly held out (record log status held_out)", config.name, newly)
        if counts.invalid:
            store.log_invalid(config.name, result.run_id)
            log.warning(
                "sync %s: %d rows have a null or duplicate primary key and are not sent",
                config.name,
                counts.invalid,
            )
        abort = _guard(config, counts, self.force)
        if abort:
            result.status = "aborted"
            result.error = abort
            log.error("sync %s aborted: %s", config.name, abort)
            return
        self._hold_removes(conn, counts)
        # Quiet hours and frequency caps take adds and changes out of this run (never removals); state
        # keeps them pending, so a later run sends them (orchestration/sync/timing.py).
        timing = apply_timing(conn, config, store, result.run_id, SEND_OPERATION[mode], self.now())
        result.deferred, result.capped, result.timezone_unknown = (
            timing.deferred,
            timing.capped,
            timing.timezone_unknown,
        )
        result.adds -= timing.deferred_adds + timing.capped
        result.changes -= timing.deferred_changes
        if mode in REMOVE_OPERATION:
            replace = mode == "audience" and self._destination().replace_on_change
            kinds = ("remove", "change") if replace else ("remove",)
            self._phase(REMOVE_OPERATION[mode], kinds)
        self._phase(SEND_OPERATION[mode], ("add", "change"))
        self._prune_sends()
        if result.removes_held:
            result.status = "held"
        else:
            result.status = "success" if result.failed == 0 else "partial"

    def _prune_sends(self) -> None:
        """sync_sends is read only by frequency caps: a run that writes to it drops its channel's sends
        older than the channel's longest cap window plus SENDS_KEEP_MARGIN (just the margin when the
        channel has no cap), under the store's lock, so the table stays as small as the caps need."""
        channel = self.config.channel_name
        if channel is None:
            return
        assert self.store is not None
        longest = max((cap.window for cap in self.config.frequency_caps), default=timedelta(0))
        before = (as_utc(self.now()) - longest - SENDS_KEEP_MARGIN).replace(tzinfo=None)
        pruned = self.store.prune_sends(channel, before)
        if pruned:
            log.info(
                "sync %s: %d sends on %s older than %s pruned", self.config.name, pruned, channel, before
            )

    def _hold_removes(self, conn: Any, counts: DiffCounts) -> None:
        """Hold this run's removals for a person when they exceed `hold_remove_share` of the records at
        the destination and something changed upstream since the sync last ran freely."""
        config, store, result = self.config, self.store, self.result
        assert store is not None
        if not counts.removes or not counts.destination_rows:
            return
        share = counts.removes / counts.destination_rows
        if share <= config.limits.hold_remove_share:
            return
        since = store.last_released_run(config.name)
        if since is None:
            return
        reasons = upstream_changes(
            conn,
            self.source,
            since,
            id_change_share=config.limits.hold_id_change_share,
            freshness_path=self.freshness_path,
        )
        if not reasons:
            return
        reason = (
            f"{counts.removes} removals ({share:.0%} of {counts.destination_rows}, above hold_remove_share "
            f"{config.limits.hold_remove_share:.0%}) after upstream changes since the last run: "
            + "; ".join(reasons)
        )
        if self.approve_removals:
            result.removals_approved = True
            result.hold_reason = f"approved: {reason}"
            log.warning("sync %s: removals approved by a person: %s", config.name, reason)
            return
        hold_removes(conn, counts)
        result.removes, result.removes_held = counts.removes, counts.removes_held
        result.hold_reason = reason
        log.warning(
            "sync %s: %s; held (adds and changes still go). Release with `tessera sync %s --approve-removals`",
            config.name,
            reason,
            config.name,
        )

    # destinations

    def _build_destination(self) -> None:
        if self.settings.uses_http():
            if self.limits.requests:
                self.bucket = TokenBucket.for_limit(self.limits.requests, self.limits.per_seconds, self.clock)
            self.http = HttpSession(self.bucket, timeout=self.settings.timeout_seconds)
        ctx = DestinationContext(
            sync_name=self.config.name,
            mode=self.config.mode,
            mapping=dict(self.config.mapping),
            env=self.env,
            clock=self.clock,
            http=self.http,
        )
        self.destination = self.settings.build(ctx)

    def _destination(self) -> Destination:
        assert self.destination is not None
        return self.destination

    def _close_destination(self) -> None:
        if self.destination is not None:
            self.destination.close()
        if self.http is not None:
            self.http.close()

    def _requests(self) -> int:
        if self.http is not None:
            return self.http.requests
        return self.destination.requests_made if self.destination is not None else 0

    # sending

    def _phase(self, operation: str, kinds: tuple[str, ...]) -> None:
        store, destination = self.store, self._destination()
        assert store is not None
        batcher = _Batcher(destination.limits, operation)
        is_delete = operation in DELETE_OPERATIONS
        assert self._diff_conn is not None
        for rows in page_diff(self._diff_conn, kinds, page_size=PAGE_SIZE):
            local_failures: list[Outcome] = []
            for key, change, payload, payload_hash, old_payload, destination_id, consent_basis in rows:
                replace = is_delete and change == "change"
                if not is_delete and key in self._blocked:
                    local_failures.append(
                        Outcome(
                            key,
                            operation,
                            False,
                            "the previous identifiers could not be removed; retried next run",
                            payload_hash,
                            payload,
                            destination_id,
                            False,
                            consent_basis,
                            change=change,
                            channel=self.config.channel_name,
                        )
                    )
                    continue
                fields = json.loads(old_payload if is_delete else payload)
                try:
                    item = destination.prepare(Record(key, operation, fields, destination_id))
                except InvalidRecord as exc:
                    local_failures.append(
                        Outcome(
                            key,
                            operation,
                            False,
                            f"not sent: {exc}",
                            payload_hash,
                            payload,
                            destination_id,
                            replace,
                            consent_basis,
                            permanent=True,  # the data cannot be expressed for this API
                            change=change,
                            channel=self.config.channel_name,
                        )
                    )
                    continue
                entry = _Entry(item, payload_hash, payload, destination_id, replace, consent_basis, change)
                for entries in batcher.add(entry):
                    self._send(operation, entries)
            if local_failures:
                store.commit(self.config.name, self.result.run_id, None, local_failures)
                self._tally(local_failures)
        for entries in batcher.flush():
            self._send(operation, entries)

    def _send(self, operation: str, entries: list[_Entry]) -> None:
        store = self.store
        assert store is not None
        self._batch_seq += 1
        key = f"{self.result.run_id}-{self._batch_seq:06d}"
        journal = json.dumps([entry.to_journal() for entry in entries], separators=(",", ":"), default=str)
        store.add_pending(self.config.name, self.result.run_id, key, operation, journal, len(entries))
        outcomes = self._deliver_and_describe(operation, key, entries)
        store.commit(self.config.name, self.result.run_id, key, outcomes)
        self._tally(outcomes)

    def _recover(self) -> None:
        """Resend the batches an earlier run sent but never saw confirmed, with their own idempotency keys."""
        store = self.store
        assert store is not None
        for pending in store.pending(self.config.name):
            entries = [_Entry.from_journal(data) for data in json.loads(pending.items)]
            if pending.attempts >= self.config.limits.max_recovery_attempts:
                log.error(
                    "sync %s: batch %s stayed unconfirmed after %d attempts; its records go back to the diff",
                    self.config.name,
                    pending.idempotency_key,
                    pending.attempts,
                )
                outcomes = [
                    self._outcome(
                        pending.operation,
                        entry,
                        RecordResult(entry.item.key, False, "never confirmed", permanent=False),
                    )
                    for entry in entries
                ]
                store.commit(self.config.name, self.result.run_id, pending.idempotency_key, outcomes)
                self._tally(outcomes)
                continue
            log.info(
                "sync %s: resending unconfirmed batch %s (%d records)",
                self.config.name,
                pending.idempotency_key,
                len(entries),
            )
            outcomes = self._deliver_and_describe(pending.operation, pending.idempotency_key, entries)
            store.commit(self.config.name, self.result.run_id, pending.idempotency_key, outcomes)
            self.result.recovered += len(outcomes)
            self._tally(outcomes)

    def _deliver_and_describe(self, operation: str, key: str, entries: list[_Entry]) -> list[Outcome]:
        store = self.store
        assert store is not None
        batch = Batch(operation, key, [entry.item for entry in entries], self.config.name)
        try:
            results = self._deliver(batch)
        except (DestinationUnavailable, DestinationFatalError) as exc:
            store.bump_pending(key, redact(str(exc)) or "")
            raise
        by_key = {result.key: result for result in results}
        return [
            self._outcome(
                operation,
                entry,
                by_key.get(entry.item.key)
                or RecordResult(entry.item.key, False, "no confirmation", permanent=False),
            )
            for entry in entries
        ]

    def _outcome(self, operation: str, entry: _Entry, result: RecordResult) -> Outcome:
        permanent = (
            not result.ok
            and operation not in DELETE_OPERATIONS
            and self.destination is not None
            and self.destination.is_permanent(result)
        )
        return Outcome(
            key=entry.item.key,
            operation=operation,
            ok=result.ok,
            error=redact(result.error),
            payload_hash=entry.payload_hash,
            payload=entry.payload,
            destination_id=result.destination_id or entry.destination_id,
            replace=entry.replace,
            consent_basis=entry.consent_basis,
            permanent=permanent,
            change=entry.change,
            channel=self.config.channel_name,
            sent_at=as_utc(self.now()).replace(tzinfo=None),
        )

    def _tally(self, outcomes: list[Outcome]) -> None:
        for outcome in outcomes:
            self.result.sent += 1
            if outcome.ok:
                self.result.succeeded += 1
            elif outcome.permanent and outcome.operation not in DELETE_OPERATIONS:
                self.result.rejected += 1
            else:
                self.result.failed += 1
                if outcome.replace:
                    self._blocked.add(outcome.key)

    def _deliver(self, batch: Batch) -> list[RecordResult]:
        """Send a batch; when the destination refuses it whole, split it in halves until the bad records
        are alone. Halves get derived idempotency keys, the same on every resend."""
        try:
            return self._send_with_retries(batch)
        except BatchRejected as exc:
            if len(batch.items) == 1:
                # Refused alone, as invalid: this record's data is what the API will not take.
                return [RecordResult(batch.items[0].key, False, f"rejected: {exc}", permanent=True)]
            middle = len(batch.items) // 2
            log.info(
                "batch %s rejected (%s); splitting %d records", batch.idempotency_key, exc, len(batch.items)
            )
            halves = (batch.items[:middle], batch.items[middle:])
            results: list[RecordResult] = []
            for index, items in enumerate(halves):
                results.extend(
                    self._deliver(
                        Batch(batch.operation, f"{batch.idempotency_key}.{index}", items, batch.sync_name)
                    )
                )
            return results

    def _send_with_retries(self, batch: Batch) -> list[RecordResult]:
        destination = self._destination()
        attempts = self.config.limits.max_attempts
        for attempt in range(1, attempts + 1):
            try:
                if batch.operation in DELETE_OPERATIONS:
                    return destination.delete(batch)
                return destination.send_batch(batch)
            except RetryableError as exc:
                if attempt == attempts:
                    raise DestinationUnavailable(
                        f"batch {batch.idempotency_key} failed {attempts} times; last error: {exc}"
                    ) from exc
                if exc.retry_after is not None:
                    log.info(
                        "batch %s: %s; waiting %.1fs as told", batch.idempotency_key, exc, exc.retry_after
                    )
                    if self.bucket is not None:
                        self.bucket.hold_off(exc.retry_after)
                    else:
                        self.clock.sleep(exc.retry_after)
                else:
                    delay = self.backoff.delay(attempt)
                    log.info("batch %s: %s; retry %d in %.2fs", batch.idempotency_key, exc, attempt, delay)
                    self.clock.sleep(delay)
        raise AssertionError("unreachable")


def dry_run(
    config: SyncConfig, warehouse: str | Path | SyncLocation, state_path: str | Path | None = None
) -> DryRunReport:
    """Alias of `preview_sync` for callers that think of it as the dry run."""
    return preview_sync(config, warehouse, state_path)


__all__ = ["DryRunReport", "SyncRunResult", "dry_run", "preview_sync", "run_sync"]
