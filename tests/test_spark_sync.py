"""Syncs read from Spark (issue #17; docs/spark.md, "Syncs on Spark"): the sync engine runs against a tiny
published table written into Spark directly, with its state in Spark (orchestration/sync/stores/spark.py),
sending to a local webhook receiver. A first run sends everything, a rerun with no change nothing, a
changed row an update and a removed row a delete; a process killed between batches loses and duplicates
nothing; a commit cut short counts for nothing; and the payloads are the DuckDB store's for the same rows.

Skipped unless TESSERA_TEST_SPARK=1 with the spark extra installed (tests/spark_marks.py). It starts a
cluster of its own on its own ports (tools/spark_cluster.py), or reuses one already listening there."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

from orchestration.sync.engine import run_sync
from orchestration.sync.stores.spark import ENTRIES, Entry, insert_sql, text_literal
from orchestration.warehouse.interface import SyncLocation
from orchestration.warehouse.spark import ident
from tests.spark_cluster import spark_cluster_fixture
from tests.spark_marks import SPARK_MARKS
from tests.sync.fakes import WebhookFake
from tests.sync.helpers import WEBHOOK_SECRET, FakeClock, make_config, people, state_rows, write_warehouse
from tests.sync.test_kill import Killer, start_child, sync_file

pytestmark = SPARK_MARKS

REPO = Path(__file__).resolve().parent.parent
PORTS = {
    "TESSERA_SPARK_MASTER_PORT": "17277",
    "TESSERA_SPARK_MASTER_UI_PORT": "18280",
    "TESSERA_SPARK_WORKER_UI_PORT": "18281",
    "TESSERA_SPARK_THRIFT_PORT": "10210",
    "TESSERA_SPARK_THRIFT_UI_PORT": "14240",
}
ENV = {"HOOK_SECRET": WEBHOOK_SECRET}
MAPPING = {"email": "email", "first_name": "first_name"}
COLUMNS = [
    ("customer_id", "string"),
    ("email", "string"),
    ("phone", "string"),
    ("first_name", "string"),
    ("score", "bigint"),
    ("has_consent_email_marketing", "boolean"),
]


spark_env = spark_cluster_fixture(PORTS)


@pytest.fixture(scope="module")
def cluster(spark_env: dict[str, str]) -> dict[str, Any]:
    return {"host": "127.0.0.1", "port": int(PORTS["TESSERA_SPARK_THRIFT_PORT"]), "username": "tessera"}


def spark_sql(connect: dict[str, Any], *statements: str) -> list[tuple]:
    from pyhive import hive

    conn = hive.connect(**connect)
    try:
        cur = conn.cursor()
        rows: list[tuple] = []
        for statement in statements:
            cur.execute(statement)
            rows = list(cur.fetchall()) if cur.description else []
        return rows
    finally:
        conn.close()


@pytest.fixture
def location(cluster: dict[str, Any]) -> Iterator[SyncLocation]:
    published = f"synctest_{uuid.uuid4().hex[:8]}"
    loc = SyncLocation(store="spark", published=published, state=f"{published}_sync", connect=cluster)
    spark_sql(cluster, f"create database {ident(published)}")
    try:
        yield loc
    finally:
        spark_sql(
            cluster,
            f"drop database if exists {ident(published)} cascade",
            f"drop database if exists {ident(loc.state)} cascade",
        )


def write_spark(location: SyncLocation, rows: list[dict[str, Any]], table: str = "audience") -> None:
    """Replace <published>.<table> with `rows`, as a published build's table."""
    target = f"{ident(location.published)}.{ident(table)}"
    ddl = ", ".join(f"{name} {dtype}" for name, dtype in COLUMNS)
    statements = [f"drop table if exists {target}", f"create table {target} ({ddl}) using parquet"]
    if rows:

        def value(v: Any, dtype: str) -> str:
            if v is None:
                return f"cast(null as {dtype})"
            if dtype == "string":
                return text_literal(str(v))
            return str(v).lower()

        values = ", ".join(
            "(" + ", ".join(value(row[name], dtype) for name, dtype in COLUMNS) + ")" for row in rows
        )
        statements.append(f"insert into {target} values {values}")
    spark_sql(dict(location.connect), *statements)


def spark_state(location: SyncLocation, sync_name: str = "test_sync") -> dict[str, dict[str, Any]]:
    """The sync's state through the state database's view for analysts."""
    rows = spark_sql(
        dict(location.connect),
        f"select key, payload_hash, payload, status from {ident(location.state)}.{ident('state__' + sync_name)}",
    )
    return {r[0]: {"payload_hash": r[1], "payload": r[2], "status": r[3]} for r in rows}


def hook(webhook: WebhookFake, *, mode: str = "upsert", batch_size: int = 4, **kw: Any):
    destination = {
        "type": "webhook",
        "url": f"{webhook.url}/hook",
        "secret_env": "HOOK_SECRET",
        "batch_size": batch_size,
        "timeout_seconds": 30,
    }
    return make_config(destination, mode=mode, mapping=MAPPING, **kw)


@pytest.fixture
def webhook() -> Iterator[WebhookFake]:
    fake = WebhookFake(WEBHOOK_SECRET)
    fake.start()
    try:
        yield fake
    finally:
        fake.stop()


def test_sends_everything_then_nothing_then_an_update_and_a_delete(
    location: SyncLocation, webhook: WebhookFake
) -> None:
    rows = people(10)
    write_spark(location, rows)
    config = hook(webhook, mode="mirror", limits={"max_remove_share": 0.5})

    first = run_sync(config, location, env=ENV, clock=FakeClock())
    assert (first.status, first.adds, first.succeeded, first.requests) == ("success", 10, 10, 3)
    assert set(webhook.store) == {r["customer_id"] for r in rows}
    assert webhook.store["c00007"] == {"email": "Person.7@Example.com ", "first_name": "Name7"}

    again = run_sync(config, location, env=ENV, clock=FakeClock())
    assert (again.status, again.adds, again.changes, again.removes, again.requests) == ("success", 0, 0, 0, 0)

    rows[1]["first_name"] = "Changed"
    rows = rows[:8]
    write_spark(location, rows)
    preview = run_sync(config, location, env=ENV, clock=FakeClock(), dry_run=True)
    assert (preview.status, preview.changes, preview.removes) == ("dry_run", 1, 2)
    assert webhook.accepted["c00001"] == 1  # a dry run sends nothing
    third = run_sync(config, location, env=ENV, clock=FakeClock())
    assert (third.status, third.adds, third.changes, third.removes) == ("success", 0, 1, 2)
    assert set(webhook.store) == {r["customer_id"] for r in rows}
    assert webhook.store["c00001"]["first_name"] == "Changed"
    assert set(webhook.accepted.values()) == {1, 2} and webhook.accepted["c00001"] == 2

    state = spark_state(location)
    assert set(state) == {r["customer_id"] for r in rows}
    assert {s["status"] for s in state.values()} == {"synced"}
    assert json.loads(state["c00001"]["payload"])["first_name"] == "Changed"
    runs = spark_sql(
        dict(location.connect),
        f"select status, adds, changes, removes from {ident(location.state)}.sync_runs order by started_at",
    )
    assert runs == [("success", 10, 0, 0), ("success", 0, 0, 0), ("success", 0, 1, 2)]
    assert spark_sql(
        dict(location.connect), f"select count(*) from {ident(location.state)}.sync_journal"
    ) == [(0,)]
    logged = spark_sql(
        dict(location.connect),
        f"select operation, count(*) from {ident(location.state)}.sync_record_log "
        "where status = 'succeeded' group by 1 order by 1",
    )
    assert dict(logged) == {"delete": 2, "upsert": 11}


def test_a_commit_cut_short_counts_for_nothing(location: SyncLocation, webhook: WebhookFake) -> None:
    rows = people(3)
    write_spark(location, rows)
    config = hook(webhook)
    assert run_sync(config, location, env=ENV, clock=FakeClock()).succeeded == 3
    # A commit of two entries of which only the first landed (its process died before the second
    # statement): it would delete c00000's state and change c00001's; readers must ignore it whole.
    half = [
        Entry("state", "test_sync", "c00000", None),
        Entry(
            "state",
            "test_sync",
            "c00001",
            {"key": "c00001", "payload_hash": "x", "status": "synced", "attempts": 0},
        ),
    ]
    spark_sql(
        dict(location.connect),
        insert_sql(location.state, "cut-short", 10_000, datetime(2030, 1, 1), half[:1], 0, 2),
    )
    assert spark_sql(
        dict(location.connect),
        f"select count(*) from {ident(location.state)}.{ENTRIES} where commit_id = 'cut-short'",
    ) == [(1,)]
    state = spark_state(location)
    assert set(state) == {"c00000", "c00001", "c00002"} and state["c00001"]["payload_hash"] != "x"
    before = webhook.request_count()
    again = run_sync(config, location, env=ENV, clock=FakeClock())
    assert (again.status, again.adds, again.changes, again.requests) == ("success", 0, 0, 0)
    assert webhook.request_count() == before


def test_payloads_equal_the_duckdb_stores(location: SyncLocation, tmp_path: Path) -> None:
    rows = people(9) + people(2, start=20, consent=False) + people(1, start=30, first_name=None)
    write_spark(location, rows)
    duck = write_warehouse(tmp_path / "warehouse.duckdb", rows)
    fakes = {"spark": WebhookFake(WEBHOOK_SECRET), "duckdb": WebhookFake(WEBHOOK_SECRET)}
    for fake in fakes.values():
        fake.start()
    try:
        spark = run_sync(hook(fakes["spark"]), location, env=ENV, clock=FakeClock())
        local = run_sync(hook(fakes["duckdb"]), duck, tmp_path / "state.duckdb", env=ENV, clock=FakeClock())
        assert spark.counts() == local.counts()
        assert spark.consent_excluded == 2 and spark.succeeded == 10
        assert fakes["spark"].store == fakes["duckdb"].store
        assert fakes["spark"].batch_sizes == fakes["duckdb"].batch_sizes
    finally:
        for fake in fakes.values():
            fake.stop()
    on_duckdb = state_rows(tmp_path / "state.duckdb")
    on_spark = spark_state(location)
    assert {k: (v["payload_hash"], v["payload"], v["status"]) for k, v in on_spark.items()} == {
        k: (v["payload_hash"], v["payload"], v["status"]) for k, v in on_duckdb.items()
    }


def test_a_sync_killed_between_batches_loses_and_duplicates_nothing(
    location: SyncLocation, tmp_path: Path
) -> None:
    killer = Killer()
    fake = WebhookFake(WEBHOOK_SECRET)
    rows = people(40)
    write_spark(location, rows)
    fake.start(after_handle=killer.after_handle)
    try:
        dest = {
            "type": "webhook",
            "url": f"{fake.url}/hook",
            "secret_env": "HOOK_SECRET",
            "batch_size": 5,
            "timeout_seconds": 30,
            "rate_limit": {"requests": 1000, "per_seconds": 1},
        }
        syncs = sync_file(tmp_path, dest)
        # Killed inside the server after its 3rd accepted batch (accepted, answer never sent), then again
        # after 2 more batches of the next run.
        for count in (3, 2):
            child = start_child(syncs, location, location, ENV)
            killer.child = child
            with killer.lock:
                killer.kill_after = killer.accepted + count
            child.wait(timeout=600)
            assert child.returncode != 0, "the child finished before it could be killed"
        assert killer.kills == 2
        killer.child = None
        final = start_child(syncs, location, location, ENV)
        _, stderr = final.communicate(timeout=900)
        assert final.returncode == 0, stderr.decode()[-3000:]

        assert set(fake.store) == {r["customer_id"] for r in rows}
        assert set(fake.accepted.values()) == {1}  # every record accepted once
        assert fake.redeliveries >= 2  # the unconfirmed batches were sent again, and dropped by id
        state = spark_state(location, "killed")
        assert len(state) == len(rows) and {s["status"] for s in state.values()} == {"synced"}
        connect = dict(location.connect)
        assert spark_sql(connect, f"select count(*) from {ident(location.state)}.sync_journal") == [(0,)]
        statuses = [
            s
            for (s,) in spark_sql(
                connect, f"select status from {ident(location.state)}.sync_runs order by started_at"
            )
        ]
        assert statuses == ["interrupted", "interrupted", "success"]
    finally:
        if killer.child is not None and killer.child.poll() is None:
            killer.child.kill()
        fake.stop()
