"""The Postgres destination against the real server on 127.0.0.1:5432 (skipped when it is not running,
unless CI is set, where a missing server is a failure)."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from typing import Any

import psycopg2
import pytest

from orchestration.sync.destinations.base import Batch, DestinationContext, Record
from orchestration.sync.destinations.postgres import PostgresSettings
from orchestration.sync.engine import run_sync
from tests.conftest import TEST_PG_DATABASE
from tests.sync.conftest import Paths
from tests.sync.helpers import FakeClock, make_config, people, state_rows, write_warehouse

DSN = f"host=127.0.0.1 port=5432 dbname={TEST_PG_DATABASE} user=postgres connect_timeout=3"
ENV = {"PG_DSN": DSN}

pytestmark = pytest.mark.postgres


@pytest.fixture
def schema() -> Iterator[str]:
    try:
        conn = psycopg2.connect(DSN)
    except psycopg2.OperationalError as exc:
        message = f"Postgres is not reachable at 127.0.0.1:5432 (user postgres, database test): {exc}".strip()
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    name = f"tessera_sync_test_{uuid.uuid4().hex[:8]}"
    conn.autocommit = True
    with conn.cursor() as cur:
        cur.execute(f"create schema {name}")
        cur.execute(
            f"create table {name}.contacts (id text primary key, email text not null, first_name text, score integer)"
        )
    try:
        yield name
    finally:
        with conn.cursor() as cur:
            cur.execute(f"drop schema {name} cascade")
        conn.close()


def table(schema: str) -> list[tuple[Any, ...]]:
    with psycopg2.connect(DSN) as conn, conn.cursor() as cur:
        cur.execute(f"select id, email, first_name, score from {schema}.contacts order by id")
        return cur.fetchall()


def pg_config(schema: str, mode: str = "upsert", **kw: Any):
    destination = {"type": "postgres", "dsn_env": "PG_DSN", "table": f"{schema}.contacts", "batch_size": 4}
    destination.update(kw.pop("destination", {}))
    mapping = {"email": "email", "first_name": "first_name", "score": "score"}
    return make_config(destination, mapping=mapping, mode=mode, **kw)


def test_upserts_updates_and_deletes_mirror_the_source(schema: str, paths: Paths) -> None:
    rows = people(10)
    write_warehouse(paths.warehouse, rows)
    config = pg_config(schema, "mirror", limits={"max_remove_share": 0.5})
    first = run_sync(config, paths.warehouse, paths.state, env=ENV, clock=FakeClock())
    assert (first.status, first.succeeded, first.requests) == ("success", 10, 3)
    assert table(schema)[2] == ("c00002", "Person.2@Example.com ", "Name2", 2)
    assert run_sync(config, paths.warehouse, paths.state, env=ENV, clock=FakeClock()).requests == 0

    rows[1]["score"] = 99
    rows = rows[:8] + people(1, start=20)
    write_warehouse(paths.warehouse, rows)
    second = run_sync(config, paths.warehouse, paths.state, env=ENV, clock=FakeClock())
    assert (second.adds, second.changes, second.removes) == (1, 1, 2)
    assert [r[0] for r in table(schema)] == [row["customer_id"] for row in rows]
    assert table(schema)[1][3] == 99


def test_a_row_postgres_refuses_is_isolated_by_splitting(schema: str, paths: Paths) -> None:
    rows = people(8)
    rows[5]["email"] = None  # violates not null
    write_warehouse(paths.warehouse, rows)
    result = run_sync(
        pg_config(schema, destination={"batch_size": 8}),
        paths.warehouse,
        paths.state,
        env=ENV,
        clock=FakeClock(),
    )
    assert (result.succeeded, result.rejected) == (7, 1)
    assert "not-null" in state_rows(paths.state)["c00005"]["last_error"]
    assert len(table(schema)) == 7


def test_update_mode_reports_missing_rows(schema: str, paths: Paths) -> None:
    write_warehouse(paths.warehouse, people(3))
    with psycopg2.connect(DSN) as conn, conn.cursor() as cur:
        cur.execute(f"insert into {schema}.contacts values ('c00001', 'old@example.com', 'Old', 0)")
    result = run_sync(pg_config(schema, "update"), paths.warehouse, paths.state, env=ENV, clock=FakeClock())
    assert (result.succeeded, result.failed) == (1, 2)
    assert table(schema) == [("c00001", "Person.1@Example.com ", "Name1", 1)]


def test_a_batch_is_applied_once_even_when_sent_twice(schema: str) -> None:
    settings = PostgresSettings(type="postgres", dsn_env="PG_DSN", table=f"{schema}.contacts")
    ctx = DestinationContext(
        "ledger_test", "insert", {"email": "email", "first_name": "first_name"}, ENV, FakeClock()
    )
    destination = settings.build(ctx)
    try:
        first = destination.prepare(Record("k1", "insert", {"email": "a@example.com", "first_name": "A"}))
        batch = Batch("insert", "run1-000001", [first], "ledger_test")
        assert [r.ok for r in destination.send_batch(batch)] == [True]
        changed = destination.prepare(Record("k1", "upsert", {"email": "b@example.com", "first_name": "B"}))
        replay = Batch("upsert", "run1-000001", [changed], "ledger_test")
        assert [r.ok for r in destination.send_batch(replay)] == [True]
        assert table(schema) == [("k1", "a@example.com", "A", None)]  # the repeat was not applied
    finally:
        destination.close()


def test_an_unreachable_server_fails_the_run_clearly(paths: Paths) -> None:
    write_warehouse(paths.warehouse, people(2))
    config = pg_config("public", limits={"max_attempts": 2})
    env = {"PG_DSN": "host=127.0.0.1 port=1 dbname=test user=postgres connect_timeout=1"}
    result = run_sync(config, paths.warehouse, paths.state, env=env, clock=FakeClock())
    assert result.status == "failed"
    assert "cannot connect to Postgres" in (result.error or "")
