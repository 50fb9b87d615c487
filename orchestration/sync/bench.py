"""`tessera bench sync`: diff speed, idle re-runs, throughput under a rate limit, and loss under faults."""

from __future__ import annotations

import base64
import logging
import math
import os
import subprocess
import tempfile
import threading
import time
from collections import Counter
from pathlib import Path
from typing import Any

import duckdb

from orchestration.sync.config import SyncConfig, parse_syncs
from orchestration.sync.destinations.webhook import sign
from orchestration.sync.diff import compute_diff, quote
from orchestration.sync.engine import run_sync
from orchestration.sync.localserver import (
    Fault,
    FaultSchedule,
    LocalServer,
    Request,
    Response,
    RollingWindowLimiter,
)
from orchestration.sync.state import Outcome
from orchestration.sync.stores import SyncLocation, open_source, open_store

log = logging.getLogger(__name__)

SECRET = "whsec_" + base64.b64encode(b"tessera-bench-secret-0123456789ab").decode()
ENV = {"BENCH_WEBHOOK_SECRET": SECRET}
GOALS = {
    "diff_seconds": 5.0,
    "unchanged_rerun_requests": 0,
    "throughput_share": 0.95,
    "faults_lost_records": 0,
    "faults_duplicated_records": 0,
}


class Receiver:
    """A webhook receiver that checks signatures, drops repeats by `webhook-id` and counts every record."""

    def __init__(self) -> None:
        self.accepted: Counter[str] = Counter()
        self.seen: set[str] = set()
        self.redeliveries = 0
        self.lock = threading.Lock()

    def handle(self, request: Request) -> Response:
        msg_id = request.headers.get("webhook-id", "")
        timestamp = request.headers.get("webhook-timestamp", "0")
        expected = sign(SECRET, msg_id, int(timestamp), request.body.decode())
        if request.headers.get("webhook-signature") != expected:
            return Response(401, {"message": "bad signature"})
        with self.lock:
            if msg_id in self.seen:
                self.redeliveries += 1
                return Response(200, {"ok": True})
            self.seen.add(msg_id)
            for record in request.json()["data"]["records"]:
                self.accepted[record["key"]] += 1
        return Response(200, {"ok": True})


def _write_audience(path: Path, rows: int, *, changed_share: float = 0.0) -> None:
    """A synthetic audience model of `rows` people. With `changed_share`, that share of people changed
    their email, half as many left and half as many joined, like a day's churn."""
    conn = duckdb.connect(str(path))
    try:
        changed = int(rows * changed_share)
        left = changed // 2
        conn.execute(
            f"""
            create or replace table audience as
            select
                'c' || lpad(cast(i as varchar), 9, '0') as customer_id,
                case when i >= {left} and i < {left + changed} then 'moved.' else 'person.' end
                    || i || '@example.com' as email,
                '+1415' || lpad(cast(i % 10000000 as varchar), 7, '0') as phone,
                'Name' || i as first_name,
                i % 10 <> 0 as has_consent_ads
            from range({left}, {rows + left}) as t(i)
            """
        )
    finally:
        conn.close()


def _config(
    name: str, url: str, *, mode: str, batch_size: int, requests: int, per_seconds: float, **limits: Any
) -> SyncConfig:
    destination = {
        "type": "webhook",
        "url": url,
        "secret_env": "BENCH_WEBHOOK_SECRET",
        "batch_size": batch_size,
        "rate_limit": {"requests": requests, "per_seconds": per_seconds},
        "timeout_seconds": limits.pop("timeout_seconds", 10.0),
    }
    sync = {
        "name": name,
        "source": {"model": "audience", "primary_key": "customer_id"},
        "destination": destination,
        "mode": mode,
        "mapping": {"email": "email", "phone": "phone", "first_name": "first_name"},
        "schedule": "0 * * * *",
        "consent_purpose": "ads",
        "limits": limits,
    }
    return parse_syncs({"syncs": [sync]})[0]


def _write_audience_postgres(location: SyncLocation, rows: int, *, changed_share: float = 0.0) -> None:
    """The same synthetic audience, as the table `audience` of the location's published schema."""
    import psycopg2

    with tempfile.TemporaryDirectory() as folder:
        local = Path(folder) / "audience.duckdb"
        _write_audience(local, rows, changed_share=changed_share)
        csv = Path(folder) / "audience.csv"
        conn = duckdb.connect(str(local))
        try:
            conn.execute(f"copy audience to '{csv}' (header false)")
        finally:
            conn.close()
        schema = quote(location.published)
        with (
            psycopg2.connect(**location.connect) as pg,
            pg.cursor() as cur,
            open(csv, encoding="utf-8") as handle,
        ):
            cur.execute(f"create schema if not exists {schema}")
            cur.execute(f"drop table if exists {schema}.audience")
            cur.execute(
                f"create table {schema}.audience (customer_id text, email text, phone text, first_name text, "
                "has_consent_ads boolean)"
            )
            cur.copy_expert(f"copy {schema}.audience from stdin with (format csv)", handle)


def bench_diff(workdir: Path, rows: int, location: SyncLocation | None = None) -> dict[str, Any]:
    """Time the diff of a `rows`-person audience: against empty state, then against full state after 1%
    churn. The diff is everything a run does before it sends: the store's copy of state into the diff
    (Postgres) and the read of the source. `location` is where (default: DuckDB files in `workdir`)."""
    if location is None:
        location = SyncLocation(
            store="duckdb",
            published=str(workdir / "diff_warehouse.duckdb"),
            state=str(workdir / "diff_state.duckdb"),
        )

    def write(changed_share: float = 0.0) -> None:
        if location.store == "postgres":
            _write_audience_postgres(location, rows, changed_share=changed_share)
        else:
            _write_audience(Path(location.published), rows, changed_share=changed_share)

    write()
    config = _config(
        "bench_diff",
        "http://127.0.0.1:9/unused",
        mode="audience",
        batch_size=1000,
        requests=10,
        per_seconds=1,
    )
    source = open_source(location)
    store = open_store(location)
    try:
        store.ensure_sync(config.name)
        started = time.perf_counter()
        conn = store.diff_connection(config.name)
        initial = compute_diff(conn, config, source)
        initial_seconds = time.perf_counter() - started
        # Stand in for a completed first sync: every eligible row confirmed at the destination, committed
        # through the store in the destination's batches, as a run commits them.
        confirmed = conn.execute("select key, payload_hash, payload from _sync_diff order by key").fetchall()
        started = time.perf_counter()
        for start in range(0, len(confirmed), 1000):
            outcomes = [
                Outcome(key, "add", True, payload_hash=h, payload=p)
                for key, h, p in confirmed[start : start + 1000]
            ]
            store.commit(config.name, "bench", None, outcomes)
        commit_seconds = time.perf_counter() - started
        store.checkpoint()
        write(changed_share=0.01)
        started = time.perf_counter()
        steady = compute_diff(store.diff_connection(config.name), config, source)
        steady_seconds = time.perf_counter() - started
    finally:
        store.close()
    return {
        "diff_rows": rows,
        "diff_seconds_initial": round(initial_seconds, 3),
        "diff_initial_adds": initial.adds,
        "diff_seconds": round(steady_seconds, 3),
        "diff_adds": steady.adds,
        "diff_changes": steady.changes,
        "diff_removes": steady.removes,
        "state_commit_seconds": round(commit_seconds, 3),
    }


def load_average() -> str:
    """The machine's load average as `uptime` prints it (the figures mean little without it)."""
    try:
        return subprocess.run(
            ["uptime"], capture_output=True, text=True, timeout=5, check=True
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        one, five, fifteen = os.getloadavg()
        return f"load average: {one:.2f}, {five:.2f}, {fifteen:.2f}"


def bench_diff_warehouses(
    rows: int, connect: dict[str, Any], workdir: str | Path | None = None
) -> dict[str, Any]:
    """The diff of a `rows`-person audience, first run and after 1% churn, on the DuckDB store and on the
    Postgres store (a scratch published schema and its `_sync` schema on the server `connect` reaches,
    dropped afterwards), one after the other in one process, with the load average before and after."""
    import uuid

    import psycopg2

    figures: dict[str, Any] = {"cores": os.cpu_count(), "load_before": load_average()}
    with tempfile.TemporaryDirectory(prefix="tessera-bench-diff-", dir=workdir) as folder:
        log.info("benchmark: diff of %d rows on DuckDB", rows)
        figures["duckdb"] = bench_diff(Path(folder), rows)
    published = f"tessera_bench_sync_{uuid.uuid4().hex[:8]}"
    location = SyncLocation(store="postgres", published=published, state=f"{published}_sync", connect=connect)
    try:
        log.info("benchmark: diff of %d rows on Postgres", rows)
        figures["postgres"] = bench_diff(Path(tempfile.gettempdir()), rows, location)
    finally:
        conn = psycopg2.connect(**connect)
        conn.autocommit = True
        try:
            with conn.cursor() as cur:
                cur.execute(f"drop schema if exists {quote(location.published)} cascade")
                cur.execute(f"drop schema if exists {quote(location.state)} cascade")
        finally:
            conn.close()
    figures["load_after"] = load_average()
    return figures


def bench_unchanged_rerun(workdir: Path, rows: int) -> dict[str, Any]:
    warehouse, state = workdir / "rerun_warehouse.duckdb", workdir / "rerun_state.duckdb"
    _write_audience(warehouse, rows)
    receiver = Receiver()
    with LocalServer(receiver.handle) as server:
        config = _config(
            "bench_rerun",
            f"{server.url}/hook",
            mode="audience",
            batch_size=1000,
            requests=1000,
            per_seconds=1,
        )
        first = run_sync(config, warehouse, state, env=ENV)
        before = len(server.log)
        second = run_sync(config, warehouse, state, env=ENV)
        served = len(server.log) - before
    return {
        "unchanged_rerun_rows": rows,
        "unchanged_first_run_requests": first.requests,
        "unchanged_rerun_requests": served,
        "unchanged_rerun_engine_count": second.requests,
    }


def bench_throughput(
    workdir: Path,
    window_seconds: float,
    *,
    limit: int = 100,
    per_seconds: float = 10.0,
    records_per_request: int = 100,
) -> dict[str, Any]:
    """Sync against a server that allows `limit` requests per rolling `per_seconds`, and count what it
    accepted during `window_seconds` from the first request."""
    rate = limit / per_seconds
    rows = int(math.ceil(rate * records_per_request * (window_seconds + 2 * per_seconds / limit + 1)))
    warehouse, state = workdir / "tput_warehouse.duckdb", workdir / "tput_state.duckdb"
    _write_audience(warehouse, int(rows / 0.9) + 1)  # a tenth of the audience has no consent
    receiver = Receiver()
    limiter = RollingWindowLimiter(limit, per_seconds)
    with LocalServer(receiver.handle, limiter=limiter) as server:
        config = _config(
            "bench_throughput",
            f"{server.url}/hook",
            mode="upsert",
            batch_size=records_per_request,
            requests=limit,
            per_seconds=per_seconds,
        )
        result = run_sync(config, warehouse, state, env=ENV)
        accepted = [entry.at for entry in server.log if entry.status == 200]
    start = accepted[0] if accepted else 0.0
    in_window = sum(1 for at in accepted if at < start + window_seconds)
    possible = rate * window_seconds
    return {
        "throughput_window_seconds": window_seconds,
        "throughput_limit": f"{limit} requests per {per_seconds:g} s, {records_per_request} records each",
        "throughput_requests_in_window": in_window,
        "throughput_requests_possible": round(possible, 1),
        "throughput_share": round(in_window / possible, 4) if possible else 0.0,
        "throughput_records_per_second": round(in_window * records_per_request / window_seconds, 1),
        "throughput_429s": limiter.rejected,
        "throughput_run_status": result.status,
    }


def bench_faults(workdir: Path, rows: int, *, seed: int = 11, max_runs: int = 8) -> dict[str, Any]:
    """Sync through random 429s, 5xx, timeouts (before and after the server applied the batch) and dropped
    connections; rerun until done; count records lost and records applied more than once."""
    warehouse, state = workdir / "faults_warehouse.duckdb", workdir / "faults_state.duckdb"
    _write_audience(warehouse, rows)
    receiver = Receiver()
    faults = FaultSchedule(
        random_faults=[
            (0.05, Fault("status", 429, retry_after=1)),
            (0.06, Fault("status", 500)),
            (0.03, Fault("status", 503)),
            (0.04, Fault("slow", delay=0.6)),
            (0.04, Fault("slow_after", delay=0.6)),
            (0.03, Fault("drop")),
        ],
        seed=seed,
    )
    runs = []
    server = LocalServer(receiver.handle, faults=faults).start()
    try:
        config = _config(
            "bench_faults",
            f"{server.url}/hook",
            mode="upsert",
            batch_size=100,
            requests=1000,
            per_seconds=1,
            timeout_seconds=0.3,
            max_attempts=4,
            backoff_base_seconds=0.05,
            backoff_max_seconds=1.0,
        )
        for _ in range(max_runs):
            result = run_sync(config, warehouse, state, env=ENV)
            runs.append(result.status)
            if result.status == "success":
                break
    finally:
        server.stop()
    conn = duckdb.connect(str(warehouse), read_only=True)
    try:
        expected = {
            key
            for (key,) in conn.execute("select customer_id from audience where has_consent_ads").fetchall()
        }
    finally:
        conn.close()
    received = set(receiver.accepted)
    return {
        "faults_rows": len(expected),
        "faults_injected": len(faults.injected),
        "faults_runs": runs,
        "faults_redeliveries_dropped": receiver.redeliveries,
        "faults_lost_records": len(expected - received),
        "faults_duplicated_records": sum(count - 1 for count in receiver.accepted.values() if count > 1),
        "faults_unexpected_records": len(received - expected),
    }


def run_benchmark(
    *,
    rows: int = 1_000_000,
    window_seconds: float = 30.0,
    unchanged_rows: int = 20_000,
    fault_rows: int = 5_000,
    throughput_limit: tuple[int, float] = (100, 10.0),
    records_per_request: int = 100,
    workdir: str | Path | None = None,
) -> dict[str, Any]:
    """Run every sync benchmark and return the figures (with the goals, under `goals`)."""
    owned = workdir is None
    directory = Path(tempfile.mkdtemp(prefix="tessera-bench-sync-")) if owned else Path(workdir)  # type: ignore[arg-type]
    directory.mkdir(parents=True, exist_ok=True)
    figures: dict[str, Any] = {"cores": os.cpu_count()}
    log.info("benchmark: diff of %d rows", rows)
    figures.update(bench_diff(directory, rows))
    log.info("benchmark: unchanged re-run of %d rows", unchanged_rows)
    figures.update(bench_unchanged_rerun(directory, unchanged_rows))
    log.info("benchmark: throughput over %.0f s", window_seconds)
    limit, per_seconds = throughput_limit
    figures.update(
        bench_throughput(
            directory,
            window_seconds,
            limit=limit,
            per_seconds=per_seconds,
            records_per_request=records_per_request,
        )
    )
    log.info("benchmark: %d rows through injected faults", fault_rows)
    figures.update(bench_faults(directory, fault_rows))
    figures["goals"] = dict(GOALS)
    figures["goals_met"] = {
        "diff_seconds": figures["diff_seconds"] <= GOALS["diff_seconds"],
        "unchanged_rerun_requests": figures["unchanged_rerun_requests"] == 0,
        "throughput_share": figures["throughput_share"] >= GOALS["throughput_share"],
        "faults_lost_records": figures["faults_lost_records"] == 0,
        "faults_duplicated_records": figures["faults_duplicated_records"] == 0,
    }
    if owned:
        for path in directory.iterdir():
            path.unlink(missing_ok=True)
        directory.rmdir()
    return figures
