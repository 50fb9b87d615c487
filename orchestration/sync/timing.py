"""Send timing and frequency caps, applied to a run's diff before anything is sent.

Quiet hours: an add or change whose recipient's local time (the source's time zone column, else the
sync's default zone) is inside the sync's quiet hours is taken out of this run. Its state is untouched,
so the next run's diff finds it again and sends it once the recipient's window is open. Removals are
never deferred.

Frequency caps: an add for a customer who already got `max` adds on the sync's channel within the cap's
window, across every sync of the store (table sync_sends), is taken out of this run the same way.

Both are counted in the run summary, and kept in `sync_waiting` (one row per sync and key held back now);
a record is written to sync_record_log (status `deferred` or `capped`, the reason in `error`, which
names a zone and a local time, never the record's data) when it starts waiting or its status changes,
not on every run that keeps it waiting. The counts are
read under the store's lock (DuckDB's file lock, the Postgres store's advisory lock on the state schema),
which every run of every sync on the store holds from start to finish: two runs never overlap, so two
syncs cannot both pass a cap."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, tzinfo
from functools import lru_cache
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import duckdb

from orchestration.sync.config import QuietHours, SyncConfig
from orchestration.sync.stores.base import SyncStore

log = logging.getLogger(__name__)

SEND_KINDS = "('add', 'change')"


@dataclass
class TimingCounts:
    deferred_adds: int = 0
    deferred_changes: int = 0
    capped: int = 0
    timezone_unknown: int = 0
    # Records that started waiting in this run (written to the record log).
    logged: int = 0
    # What is held back: (key, operation, status, reason), status `deferred` or `capped`.
    waiting: list[tuple[str, str, str, str]] = field(default_factory=list)

    @property
    def deferred(self) -> int:
        return self.deferred_adds + self.deferred_changes


@lru_cache(maxsize=1024)
def _zone(name: str) -> tzinfo | None:
    """The zone of an IANA name from the source, None when zoneinfo does not know it (or it is a folder
    of zones, e.g. 'Europe', which raises IsADirectoryError)."""
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError, OSError):
        return None


def as_utc(moment: datetime) -> datetime:
    """An aware UTC time (a naive one is taken to be UTC)."""
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def quiet_reasons(
    quiet: QuietHours, zones: list[str | None], now: datetime
) -> tuple[dict[str | None, str], set[str | None]]:
    """For each recipient zone value: the deferral reason when it is inside quiet hours now, and the
    values that are not a known IANA zone (they use the default zone)."""
    reasons: dict[str | None, str] = {}
    unknown: set[str | None] = set()
    default = _zone(quiet.default_timezone)
    assert default is not None  # validated with the config
    for value in zones:
        zone = _zone(value) if value is not None else None
        if zone is None and value is not None:
            unknown.add(value)
        # The recipient's own zone is where she lives: it stays out of the reason (the record log and
        # sync_waiting keep reasons); the configured default zone is no one's data.
        name = "the recipient's time zone" if zone is not None else f"default zone {quiet.default_timezone}"
        local = now.astimezone(zone or default)
        if quiet.contains(local.time()):
            reasons[value] = f"quiet hours (local {local:%H:%M}, {name})"
    return reasons, unknown


Waiting = list[tuple[str, str, str, str]]  # (key, operation, status, reason)


# Makes the temp table `_sync_channel_sends` (key, sends) on the diff connection: the confirmed adds on
# a channel since a time (SyncStore.channel_sends, or a read of the state for the dry run).
ChannelSends = Callable[[str, datetime], None]


def plan_timing(
    conn: duckdb.DuckDBPyConnection,
    config: SyncConfig,
    operation: str,
    now: datetime,
    channel_sends: ChannelSends,
) -> TimingCounts:
    """Take deferred (quiet hours) and capped records out of `_sync_diff` on `conn` and count them,
    writing nothing: what a run would hold back, and what the dry run reports."""
    counts = TimingCounts()
    now = as_utc(now)
    quiet = config.timing.quiet_hours
    if quiet is not None:
        counts.waiting += _defer_quiet_hours(conn, config, operation, quiet, now, counts)
    if config.frequency_caps and config.channel_name is not None:
        counts.waiting += _apply_caps(conn, config, channel_sends, operation, now, counts)
    return counts


def apply_timing(
    conn: duckdb.DuckDBPyConnection,
    config: SyncConfig,
    store: SyncStore,
    run_id: str,
    operation: str,
    now: datetime,
) -> TimingCounts:
    """Take deferred (quiet hours) and capped records out of `_sync_diff` on `conn`, count them, and
    record them as waiting (logged when they start waiting, not on every run that keeps them waiting).
    Without quiet hours or caps (now) nothing waits: the call still clears what an earlier
    configuration left waiting."""
    counts = plan_timing(conn, config, operation, now, store.channel_sends)
    counts.logged = store.log_waiting(config.name, run_id, counts.waiting)
    return counts


def _defer_quiet_hours(
    conn: duckdb.DuckDBPyConnection,
    config: SyncConfig,
    operation: str,
    quiet: QuietHours,
    now: datetime,
    counts: TimingCounts,
) -> Waiting:
    by_zone = conn.execute(
        f"""
        select s.recipient_timezone, count(*)
        from _sync_diff as d
        join _sync_source as s
            on s.key = d.key and s.key_count = 1
        where d.change in {SEND_KINDS} and not d.skipped
        group by 1
        """
    ).fetchall()
    if not by_zone:
        return []
    reasons, unknown = quiet_reasons(quiet, [zone for zone, _ in by_zone], now)
    counts.timezone_unknown = sum(n for zone, n in by_zone if zone in unknown)
    if counts.timezone_unknown:
        # The values are not logged: a column of the source is the recipient's data.
        log.warning(
            "sync %s: %d recipients have a time zone zoneinfo does not know; quiet hours use %s for them",
            config.name,
            counts.timezone_unknown,
            quiet.default_timezone,
        )
    if not reasons:
        return []
    conn.execute("create or replace temp table _sync_quiet (zone varchar, reason varchar)")
    conn.executemany(
        "insert into _sync_quiet values (?, ?)", [[zone, reason] for zone, reason in reasons.items()]
    )
    rows = conn.execute(
        f"""
        select d.key, d.change, q.reason
        from _sync_diff as d
        join _sync_source as s
            on s.key = d.key and s.key_count = 1
        join _sync_quiet as q
            on s.recipient_timezone is not distinct from q.zone
        where d.change in {SEND_KINDS} and not d.skipped
        order by d.key
        """
    ).fetchall()
    conn.execute("drop table if exists _sync_quiet")
    _take_out(conn, [key for key, _, _ in rows], SEND_KINDS)
    counts.deferred_adds = sum(1 for _, change, _ in rows if change == "add")
    counts.deferred_changes = len(rows) - counts.deferred_adds
    log.info(
        "sync %s: %d records deferred for quiet hours %s-%s (record log status deferred)",
        config.name,
        len(rows),
        quiet.start,
        quiet.end,
    )
    return [(key, operation, "deferred", reason) for key, _, reason in rows]


def _apply_caps(
    conn: duckdb.DuckDBPyConnection,
    config: SyncConfig,
    channel_sends: ChannelSends,
    operation: str,
    now: datetime,
    counts: TimingCounts,
) -> Waiting:
    """Adds only: a change updates a record already at the destination, and is not a new send."""
    capped: Waiting = []
    for cap in config.frequency_caps:
        since = (now - cap.window).replace(tzinfo=None)
        channel_sends(cap.channel, since)
        rows: list[Any] = conn.execute(
            """
            select d.key, c.sends
            from _sync_diff as d
            join _sync_channel_sends as c
                on c.key = d.key
            where d.change = 'add' and not d.skipped and c.sends >= ?
            order by d.key
            """,
            [cap.max],
        ).fetchall()
        conn.execute("drop table if exists _sync_channel_sends")
        if not rows:
            continue
        _take_out(conn, [key for key, _ in rows], "('add')")
        reason = f"frequency cap {cap.describe()}"
        capped += [(key, operation, "capped", f"{reason} ({sends} sent)") for key, sends in rows]
        counts.capped += len(rows)
        log.info(
            "sync %s: %d adds over the frequency cap %s (record log status capped)",
            config.name,
            len(rows),
            cap.describe(),
        )
    return capped


def _take_out(conn: duckdb.DuckDBPyConnection, keys: list[str], kinds: str) -> None:
    """Remove these keys' sends from this run's diff (state keeps them pending)."""
    if not keys:
        return
    conn.execute(f"delete from _sync_diff where change in {kinds} and key in (select unnest(?))", [keys])
