"""The Spark sync store's logic without Spark, in seconds (orchestration/sync/stores/spark.py; docs/spark.md,
"Syncs on Spark"): the store talks to a fake Thrift connection that runs its Spark SQL on DuckDB (the
statements it issues are portable but for backquotes, `show`/`describe` and `unbase64`/`get_json_object`,
which the fake translates), and the engine syncs to a local webhook receiver. A cluster runs the same
store in tests/test_spark_sync.py (TESSERA_TEST_SPARK=1)."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import duckdb
import pytest

import orchestration.sync.stores.spark as spark_store
from orchestration.sync.engine import run_sync
from orchestration.warehouse.interface import SyncLocation
from tests.sync.fakes import WebhookFake
from tests.sync.helpers import WEBHOOK_SECRET, FakeClock, make_config, people, state_rows, write_warehouse

ENV = {"HOOK_SECRET": WEBHOOK_SECRET}
SPARK_TYPES = {"VARCHAR": "string", "BIGINT": "bigint", "INTEGER": "int", "BOOLEAN": "boolean"}


class Crash(RuntimeError):
    """The process died here (the fake's `crash_on`)."""


class FakeThrift:
    """One DuckDB database standing in for the Spark catalog, reached by every 'connection'."""

    def __init__(self) -> None:
        self.db = duckdb.connect()
        self.db.execute("create macro unbase64(x) as decode(from_base64(x))")
        self.db.execute("create macro get_json_object(j, p) as json_extract_string(j, p)")
        self.statements: list[str] = []
        # Database properties, as `describe database extended` reports them (publishing's swap record).
        self.properties: dict[str, dict[str, str]] = {}
        # Raise Crash instead of running the n-th statement (1-based) that matches this pattern.
        self.crash_on: tuple[str, int] | None = None

    def connect(self, **_: Any) -> FakeConnection:
        return FakeConnection(self)

    def translate(self, sql: str) -> tuple[str, Any]:
        sql = sql.strip()
        if sql == "show databases":
            return "select schema_name from information_schema.schemata", None
        if m := re.fullmatch(r"show tables in `([^`]+)`", sql):
            return (
                "select table_schema, table_name, false from information_schema.tables where table_schema = ?",
                [m.group(1)],
            )
        if m := re.fullmatch(r"describe database extended `([^`]+)`", sql):
            props = self.properties.get(m.group(1), {})
            text = "(" + ", ".join(f"({k},{v})" for k, v in sorted(props.items())) + ")" if props else ""
            return "select 'Properties', ?", [text]
        if m := re.fullmatch(r"describe table `([^`]+)`\.`([^`]+)`", sql):
            return (
                "select column_name, data_type, null from information_schema.columns "
                "where table_schema = ? and table_name = ? order by ordinal_position",
                [m.group(1), m.group(2)],
            )
        sql = re.sub(r"^create database", "create schema", sql).replace(" using parquet", "")
        return sql.replace("`", '"'), None


class FakeConnection:
    def __init__(self, fake: FakeThrift) -> None:
        self.fake = fake
        self.con = fake.db.cursor()

    def cursor(self) -> FakeCursor:
        return FakeCursor(self)

    def close(self) -> None:
        self.con.close()


class FakeCursor:
    def __init__(self, conn: FakeConnection) -> None:
        self.conn = conn
        self.description: Any = None
        self.rows: list[tuple] = []

    def execute(self, sql: str) -> None:
        fake = self.conn.fake
        fake.statements.append(sql)
        if fake.crash_on and re.match(fake.crash_on[0], sql):
            pattern, left = fake.crash_on
            fake.crash_on = (pattern, left - 1) if left > 1 else None
            if left == 1:
                raise Crash(sql[:80])
        translated, params = fake.translate(sql)
        result = self.conn.con.execute(translated, params)
        self.description = result.description
        self.rows = result.fetchall() if result.description else []
        if sql.startswith("describe table"):
            self.rows = [(n, SPARK_TYPES.get(t, t.lower()), c) for n, t, c in self.rows]

    def fetchall(self) -> list[tuple]:
        rows, self.rows = self.rows, []
        return rows

    def fetchone(self) -> tuple | None:
        return self.rows.pop(0) if self.rows else None

    def fetchmany(self, size: int) -> list[tuple]:
        rows, self.rows = self.rows[:size], self.rows[size:]
        return rows

    def close(self) -> None:
        pass


@pytest.fixture
def fake(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> FakeThrift:
    thrift = FakeThrift()
    monkeypatch.setattr(spark_store, "_connect", lambda location: thrift.connect(**dict(location.connect)))
    monkeypatch.setattr(spark_store, "_lock_path", lambda location: tmp_path / "spark-sync.lock")
    thrift.db.execute("create schema tessera")
    return thrift


LOCATION = SyncLocation(
    store="spark", published="tessera", state="tessera_sync", connect={"host": "fake", "port": 0}
)


def publish(fake: FakeThrift, rows: list[dict[str, Any]]) -> None:
    import pyarrow as pa

    fake.db.register("_rows", pa.Table.from_pylist(rows))
    fake.db.execute("create or replace table tessera.audience as select * from _rows")
    fake.db.unregister("_rows")


def view(fake: FakeThrift, name: str, columns: str = "*") -> list[tuple]:
    return fake.db.execute(f"select {columns} from tessera_sync.{name}").fetchall()


@pytest.fixture
def webhook() -> Iterator[WebhookFake]:
    receiver = WebhookFake(WEBHOOK_SECRET)
    receiver.start()
    try:
        yield receiver
    finally:
        receiver.stop()


def hook(webhook: WebhookFake, mode: str = "upsert", **kw: Any):
    destination = {
        "type": "webhook",
        "url": f"{webhook.url}/hook",
        "secret_env": "HOOK_SECRET",
        "batch_size": 4,
    }
    return make_config(destination, mode=mode, mapping={"email": "email", "first_name": "first_name"}, **kw)


def test_first_run_rerun_update_and_delete(fake: FakeThrift, webhook: WebhookFake) -> None:
    rows = people(10)
    publish(fake, rows)
    config = hook(webhook, "mirror", limits={"max_remove_share": 0.5})
    first = run_sync(config, LOCATION, env=ENV, clock=FakeClock())
    assert (first.status, first.adds, first.succeeded, first.requests) == ("success", 10, 10, 3)
    again = run_sync(config, LOCATION, env=ENV, clock=FakeClock())
    assert (again.adds, again.changes, again.removes, again.requests) == (0, 0, 0, 0)
    rows[1]["first_name"] = "Changed"
    publish(fake, rows[:8])
    third = run_sync(config, LOCATION, env=ENV, clock=FakeClock())
    assert (third.status, third.changes, third.removes) == ("success", 1, 2)
    assert set(webhook.store) == {r["customer_id"] for r in rows[:8]}
    assert webhook.store["c00001"]["first_name"] == "Changed"
    state = dict(view(fake, "state__test_sync", "key, status"))
    assert set(state) == set(webhook.store) and set(state.values()) == {"synced"}
    runs = fake.db.execute(
        "select status, adds, changes, removes from tessera_sync.sync_runs order by started_at"
    ).fetchall()
    assert runs == [("success", 10, 0, 0), ("success", 0, 0, 0), ("success", 0, 1, 2)]
    assert view(fake, "sync_journal", "count(*)") == [(0,)]
    # Every commit is complete, and nothing is ever updated in place.
    assert not [s for s in fake.statements if re.match(r"(update|delete|merge|insert overwrite)\b", s)]


def test_a_crash_between_batches_loses_and_duplicates_nothing(fake: FakeThrift, webhook: WebhookFake) -> None:
    rows = people(20)
    publish(fake, rows)
    config = hook(webhook)
    # The third batch's commit (state + log + journal tombstone) never lands: the destination has the
    # batch, the store does not know it did.
    fake.crash_on = (r"insert into .*c3RhdGU=", 3)  # base64 of 'state': a commit with state entries
    with pytest.raises(Crash):
        run_sync(config, LOCATION, env=ENV, clock=FakeClock())
    assert len(webhook.store) == 12
    assert view(fake, "sync_journal", "count(*)") == [(1,)]
    final = run_sync(config, LOCATION, env=ENV, clock=FakeClock())
    assert final.status == "success" and final.recovered == 4 and final.adds == 8
    assert set(webhook.store) == {r["customer_id"] for r in rows}
    assert set(webhook.accepted.values()) == {1} and webhook.redeliveries == 1
    assert view(fake, "sync_journal", "count(*)") == [(0,)]
    assert sorted(s for (s,) in view(fake, "sync_runs", "status")) == ["failed", "success"]
    assert run_sync(config, LOCATION, env=ENV, clock=FakeClock()).requests == 0


def test_a_commit_cut_short_between_its_statements_counts_for_nothing(
    fake: FakeThrift, webhook: WebhookFake, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(spark_store, "ROWS_PER_STATEMENT", 3)  # a batch's commit takes several INSERTs
    rows = people(8)
    publish(fake, rows)
    config = hook(webhook)
    fake.crash_on = (r"insert into .*c3RhdGU=", 2)  # the first batch's commit: its second INSERT
    with pytest.raises(Crash):
        run_sync(config, LOCATION, env=ENV, clock=FakeClock())
    landed = fake.db.execute(
        "select count(*) from tessera_sync.sync_entries where entry_table = 'state'"
    ).fetchone()
    assert landed is not None and landed[0] == 3  # part of the commit is there ...
    assert view(fake, "state__test_sync", "count(*)") == [(0,)]  # ... and no reader sees it
    assert view(fake, "sync_record_log", "count(*)") == [(0,)]
    final = run_sync(config, LOCATION, env=ENV, clock=FakeClock())
    assert final.status == "success" and final.recovered == 4
    assert set(webhook.accepted.values()) == {1}
    assert view(fake, "state__test_sync", "count(*)") == [(8,)]


def test_payloads_and_state_equal_the_duckdb_stores(fake: FakeThrift, tmp_path: Path) -> None:
    rows = people(9) + people(2, start=20, consent=False) + people(1, start=30, first_name=None)
    publish(fake, rows)
    local = write_warehouse(tmp_path / "warehouse.duckdb", rows)
    hooks = {"spark": WebhookFake(WEBHOOK_SECRET), "duckdb": WebhookFake(WEBHOOK_SECRET)}
    for receiver in hooks.values():
        receiver.start()
    try:
        on_spark = run_sync(hook(hooks["spark"]), LOCATION, env=ENV, clock=FakeClock())
        on_duckdb = run_sync(
            hook(hooks["duckdb"]), local, tmp_path / "state.duckdb", env=ENV, clock=FakeClock()
        )
        assert on_spark.counts() == on_duckdb.counts() and on_spark.consent_excluded == 2
        assert hooks["spark"].store == hooks["duckdb"].store
    finally:
        for receiver in hooks.values():
            receiver.stop()
    duck_state = state_rows(tmp_path / "state.duckdb")
    spark_state = {
        k: (h, p, s) for k, h, p, s in view(fake, "state__test_sync", "key, payload_hash, payload, status")
    }
    assert spark_state == {k: (v["payload_hash"], v["payload"], v["status"]) for k, v in duck_state.items()}


def test_one_run_per_state_database(fake: FakeThrift, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(spark_store, "LOCK_WAIT_SECONDS", 0.2)
    first = spark_store.SparkStore(LOCATION)
    try:
        with pytest.raises(RuntimeError, match="in use by another process"):
            spark_store.SparkStore(LOCATION)
    finally:
        first.close()
    spark_store.SparkStore(LOCATION).close()


def test_a_diff_reads_the_build_the_published_views_point_at(fake: FakeThrift, webhook: WebhookFake) -> None:
    """Once a publish's swap is done, the source is the build database it recorded (one build for every
    table of a diff, whatever views a later swap is moving); while a swap is moving, the views."""
    publish(fake, people(3))
    fake.db.execute("create schema tessera_build_2")
    fake.db.execute("create table tessera_build_2.audience as select * from tessera.audience")
    fake.db.execute("delete from tessera_build_2.audience where customer_id = 'c00002'")
    config = hook(webhook)
    fake.properties["tessera"] = {"tessera.build": "tessera_build_2", "tessera.swap": "moving"}
    assert run_sync(config, LOCATION, env=ENV, clock=FakeClock()).source_rows == 3
    fake.properties["tessera"]["tessera.swap"] = "done"
    assert run_sync(config, LOCATION, env=ENV, clock=FakeClock()).source_rows == 2
    assert any('from "tessera_build_2"."audience"' in s.replace("`", '"') for s in fake.statements)


def test_the_spark_warehouse_names_the_spark_store(tmp_path: Path) -> None:
    from orchestration.settings import Settings
    from orchestration.sync.stores import STORES
    from orchestration.warehouse.spark import SparkSettings, SparkWarehouse

    settings = Settings.from_env({"TESSERA_TARGET": "spark", "TESSERA_DATA_DIR": str(tmp_path / "data")})
    spark = SparkSettings.from_env(
        {"TESSERA_SPARK_SCHEMA": "cdp", "TESSERA_SPARK_THRIFT_PORT": "10999", "TESSERA_SPARK_USER": "syncs"}
    )
    warehouse = SparkWarehouse(settings, spark)
    assert warehouse.runs_syncs
    assert warehouse.sync_location() == SyncLocation(
        store="spark",
        published="cdp",
        state="cdp_sync",
        history=None,
        connect={"host": "127.0.0.1", "port": 10999, "username": "syncs"},
    )
    assert STORES["spark"].module is spark_store


def test_a_dry_run_reads_state_and_writes_nothing(fake: FakeThrift, webhook: WebhookFake) -> None:
    from orchestration.sync.stores import record_history

    rows = people(6)
    publish(fake, rows)
    config = hook(webhook, "mirror", limits={"max_remove_share": 0.5})
    assert run_sync(config, LOCATION, env=ENV, clock=FakeClock()).succeeded == 6
    rows[0]["first_name"] = "Changed"
    publish(fake, rows[:5] + people(1, start=40))
    entries = fake.db.execute("select count(*) from tessera_sync.sync_entries").fetchone()
    sent = webhook.request_count()
    fake.statements.clear()
    preview = run_sync(config, LOCATION, env=ENV, clock=FakeClock(), dry_run=True)
    assert (preview.status, preview.adds, preview.changes, preview.removes) == ("dry_run", 1, 1, 1)
    assert fake.db.execute("select count(*) from tessera_sync.sync_entries").fetchone() == entries
    assert webhook.request_count() == sent
    assert not [s for s in fake.statements if not re.match(r"(select|show|describe|with)\b", s.strip(), re.I)]
    # What the syncs did with one record, newest first, through the record log's view.
    history = record_history(LOCATION, "c00001")
    assert [(name, operation, status) for _, name, operation, status, _ in history] == [
        ("test_sync", "upsert", "succeeded")
    ]
