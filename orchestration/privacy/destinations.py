"""Erasing people at the destinations their syncs reached, through each API's own deletion endpoint.

What a destination needs to find the person (the last payload the sync confirmed, the destination's id)
is taken out of sync state into the ledger's `privacy_pending_deletes` before the state rows are
deleted, and stays there only until the destination confirmed the deletion. A destination that fails
(429s past the retries, 5xx, an outage, bad credentials) leaves its rows pending: the next erase run,
`tessera privacy retry` or the next run of that sync tries again."""

from __future__ import annotations

import logging
import os
import random
from collections.abc import Mapping
from dataclasses import dataclass, field

from orchestration.privacy.ledger import Ledger, PendingDelete
from orchestration.sync.config import SyncConfig
from orchestration.sync.destinations.base import DestinationContext, Record, RecordResult
from orchestration.sync.errors import DestinationError, RetryableError, SyncConfigError
from orchestration.sync.http import HttpSession
from orchestration.sync.ratelimit import Backoff, Clock, SystemClock, TokenBucket

log = logging.getLogger(__name__)

MAX_ATTEMPTS = 4


@dataclass
class DestinationOutcome:
    sync_name: str
    destination: str
    status: str  # done | failed | not_supported
    erased: int
    failed: int
    detail: str
    failed_keys: set[str] = field(default_factory=set)


def erase_pending(
    ledger: Ledger,
    syncs: list[SyncConfig],
    *,
    env: Mapping[str, str] | None = None,
    clock: Clock | None = None,
    only_sync: str | None = None,
) -> list[DestinationOutcome]:
    """Try every pending destination delete (of every request, or of one sync); record each outcome as a
    `destination` step of its request, and resolve what the destination confirmed."""
    env = env if env is not None else os.environ
    by_name = {config.name: config for config in syncs}
    pending = ledger.pending(only_sync)
    groups: dict[tuple[str, str], list[PendingDelete]] = {}
    for row in pending:
        groups.setdefault((row.request_id, row.sync_name), []).append(row)
    outcomes = []
    for (request_id, sync_name), rows in groups.items():
        config = by_name.get(sync_name)
        if config is None:
            # The sync is gone from syncs.yml: nothing to call, and nothing can ever be called.
            outcome = DestinationOutcome(
                sync_name, "unknown", "not_supported", 0, 0, "sync no longer configured"
            )
            ledger.resolve_pending(request_id, sync_name, [r.key for r in rows])
        else:
            outcome = _erase_at(config, rows, request_id, env, clock or SystemClock())
            done = [r.key for r in rows if r.key not in outcome.failed_keys]
            if outcome.status == "not_supported":
                ledger.resolve_pending(request_id, sync_name, [r.key for r in rows])
            else:
                ledger.resolve_pending(request_id, sync_name, done)
                failed = [r.key for r in rows if r.key not in done]
                if failed:
                    ledger.bump_pending(request_id, sync_name, failed, outcome.detail)
        ledger.step(request_id, "destination", outcome.status, outcome.detail, target=sync_name)
        outcomes.append(outcome)
    return outcomes


def _erase_at(
    config: SyncConfig, rows: list[PendingDelete], request_id: str, env: Mapping[str, str], clock: Clock
) -> DestinationOutcome:
    settings = config.destination
    kind = settings.type
    http: HttpSession | None = None
    limits = settings.limits()
    try:
        if settings.uses_http():
            bucket = (
                TokenBucket.for_limit(limits.requests, limits.per_seconds, clock) if limits.requests else None
            )
            http = HttpSession(bucket, timeout=settings.timeout_seconds)
        ctx = DestinationContext(
            sync_name=config.name,
            mode=config.mode,
            mapping=dict(config.mapping),
            env=env,
            clock=clock,
            http=http,
        )
        try:
            destination = settings.build(ctx)
        except SyncConfigError as exc:
            return _failed(config, rows, f"cannot build the destination: {exc}")
        try:
            if not destination.supports_erase:
                return DestinationOutcome(
                    config.name, kind, "not_supported", 0, 0, f"{kind} has no deletion API"
                )
            records = [Record(r.key, "erase", r.payload, r.destination_id) for r in rows]
            results: dict[str, RecordResult] = {}
            size = max(1, destination.erase_batch_size)
            for start in range(0, len(records), size):
                chunk = records[start : start + size]
                for result in _with_retries(lambda chunk=chunk: destination.erase(chunk, request_id), clock):
                    results[result.key] = result
        finally:
            destination.close()
    except DestinationError as exc:
        return _failed(config, rows, f"{type(exc).__name__}: {exc}")
    finally:
        if http is not None:
            http.close()
    failed = {r.key for r in rows if not (results.get(r.key) and results[r.key].ok)}
    errors = sorted(
        {(results[k].error or "no confirmation") if k in results else "no confirmation" for k in failed}
    )
    return DestinationOutcome(
        config.name,
        kind,
        "failed" if failed else "done",
        len(rows) - len(failed),
        len(failed),
        f"{len(rows) - len(failed)} erased"
        + (f", {len(failed)} failed: {'; '.join(errors)[:500]}" if failed else ""),
        failed,
    )


def _failed(config: SyncConfig, rows: list[PendingDelete], detail: str) -> DestinationOutcome:
    return DestinationOutcome(
        config.name, config.destination.type, "failed", 0, len(rows), detail[:500], {r.key for r in rows}
    )


def _with_retries(call, clock: Clock) -> list[RecordResult]:  # type: ignore[no-untyped-def]
    """429s, 5xx, timeouts: retried with backoff (Retry-After honoured), then given up for this run."""
    backoff = Backoff(base=0.5, cap=10.0, rng=random.Random())
    for attempt in range(1, MAX_ATTEMPTS + 1):
        try:
            return call()
        except RetryableError as exc:
            if attempt == MAX_ATTEMPTS:
                raise
            clock.sleep(exc.retry_after if exc.retry_after is not None else backoff.delay(attempt))
    raise AssertionError("unreachable")
