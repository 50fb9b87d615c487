"""Syncs on the Postgres target, as the project runs them: the published schema is the source, the
schema `<published>_sync` keeps state and history, and only a build whose audit passed is read."""

from __future__ import annotations

import csv
import json
from collections.abc import Iterator
from pathlib import Path

import psycopg2
import pytest

from orchestration.settings import PostgresSettings, Settings
from orchestration.sync.project import SyncBlocked, preview_project_sync, run_project_sync
from orchestration.warehouse.interface import SyncLocation
from orchestration.warehouse.registry import get_warehouse
from tests.sync.conftest import postgres_location
from tests.sync.helpers import make_config, people, query, state_rows, write_warehouse

pytestmark = pytest.mark.postgres


@pytest.fixture
def pg_settings(tmp_path: Path) -> Iterator[tuple[Settings, SyncLocation]]:
    with postgres_location() as location:
        connect = location.connect
        settings = Settings(
            target="postgres",
            data_dir=tmp_path / "data",
            published_db=tmp_path / "warehouse" / "tessera.duckdb",
            build_db=tmp_path / "warehouse" / "build" / "tessera.duckdb",
            postgres=PostgresSettings(
                host=str(connect["host"]),
                port=int(connect["port"]),
                user=str(connect["user"]),
                password="",
                database=str(connect["dbname"]),
                build_schema=f"{location.published}_build",
                published_schema=location.published,
            ),
        )
        yield settings, location


def _audit(settings: Settings, *, passed: bool) -> None:
    settings.last_audit_path.parent.mkdir(parents=True, exist_ok=True)
    settings.last_audit_path.write_text(json.dumps({"passed": passed, "failures": []}))


def _export(tmp_path: Path):  # type: ignore[no-untyped-def]
    destination = {"type": "files", "directory": str(tmp_path / "out"), "format": "csv", "batch_size": 3}
    return make_config(destination, mapping={"email": "email", "first_name": "first_name"}, mode="mirror")


def test_the_postgres_warehouse_runs_syncs_from_its_published_schema(
    pg_settings: tuple[Settings, SyncLocation], tmp_path: Path
) -> None:
    settings, location = pg_settings
    warehouse = get_warehouse(settings)
    assert warehouse.runs_syncs
    assert warehouse.sync_location() == SyncLocation(
        store="postgres",
        published=location.published,
        state=f"{location.published}_sync",
        connect=settings.postgres.connect_kwargs(),
    )
    rows = people(7)
    rows[2]["has_consent_email_marketing"] = False
    write_warehouse(location, rows)
    _audit(settings, passed=True)
    config = _export(tmp_path)

    preview = preview_project_sync(settings, config)
    assert (preview.adds, preview.consent_excluded) == (6, 1)
    result = run_project_sync(settings, config)
    assert result.status == "success", result.error
    sent = set()
    for path in (tmp_path / "out").rglob("*.csv"):
        with path.open() as handle:
            sent |= {row["email"] for row in csv.DictReader(handle)}
    assert sent == {row["email"] for row in rows if row["has_consent_email_marketing"]}
    # State and history are in the state schema; no DuckDB state file appears.
    assert len(state_rows(location)) == 6
    assert query(location, "select status, adds from sync_runs") == [("success", 6)]
    assert not list(settings.published_db.parent.glob("sync_*.duckdb"))
    # A publish replaces the published schema; the state schema is not touched, so nothing is resent.
    again = run_project_sync(settings, config)
    assert (again.status, again.unchanged, again.sent) == ("success", 6, 0)
    # An access request finds the person's sends in the record log (orchestration/privacy/export.py).
    from orchestration.privacy.export import _sync_tables

    logged = _sync_tables(settings, ["c00001", "c00002"])["sync_log"]
    assert [(row["key"], row["status"]) for row in logged] == [("c00001", "succeeded")]


def test_a_postgres_build_whose_audit_failed_is_not_synced(
    pg_settings: tuple[Settings, SyncLocation], tmp_path: Path
) -> None:
    settings, location = pg_settings
    config = _export(tmp_path)
    with pytest.raises(SyncBlocked, match="nothing is published yet"):
        run_project_sync(settings, config)
    write_warehouse(location, people(3))
    with pytest.raises(SyncBlocked, match="no passing audit"):
        run_project_sync(settings, config)
    _audit(settings, passed=False)
    with pytest.raises(SyncBlocked, match="no passing audit"):
        preview_project_sync(settings, config)
    assert not (tmp_path / "out").exists() or not list((tmp_path / "out").rglob("*.csv"))
    with psycopg2.connect(**location.connect) as conn, conn.cursor() as cur:
        cur.execute("select 1 from information_schema.schemata where schema_name = %s", (location.state,))
        assert cur.fetchone() is None  # a refused sync writes no state
    conn.close()


def test_two_runs_of_one_state_schema_cannot_overlap(pg_settings: tuple[Settings, SyncLocation]) -> None:
    from orchestration.sync.stores import open_store

    _, location = pg_settings
    first = open_store(location)
    try:
        with pytest.raises(RuntimeError, match="in use by another process"):
            open_store(location)
    finally:
        first.close()
    open_store(location).close()  # released on close


def test_the_postgres_load_records_drift_and_syncs_hold_removals_after_it(
    pg_settings: tuple[Settings, SyncLocation], tmp_path: Path
) -> None:
    """Issue 12's case 3 on Postgres: removals after a renamed raw column wait for a person."""
    from datetime import UTC, datetime, timedelta

    from orchestration.sync.engine import run_sync
    from orchestration.warehouse.load import TableLoad
    from orchestration.warehouse.postgres import PostgresWarehouse
    from tests.sync.fakes import WebhookFake
    from tests.sync.helpers import WEBHOOK_SECRET, FakeClock

    settings, location = pg_settings
    warehouse = PostgresWarehouse(settings)
    rows = people(40)
    write_warehouse(location, rows)
    webhook = WebhookFake(WEBHOOK_SECRET).start()
    try:
        config = make_config(
            {"type": "webhook", "url": f"{webhook.url}/hook", "secret_env": "HOOK_SECRET"},
            mapping={"email": "email"},
            mode="mirror",
        )
        env = {"HOOK_SECRET": WEBHOOK_SECRET}
        assert run_sync(config, location, env=env, clock=FakeClock()).status == "success"
        # A raw load with drift (and one without), recorded in the build schema, then published.
        later = datetime.now(UTC).replace(tzinfo=None) + timedelta(seconds=1)
        with psycopg2.connect(**location.connect) as conn:
            warehouse._record_schema_changes(
                conn,
                [
                    TableLoad("crm", "contacts", 10, ["email_address"], ["email"]),
                    TableLoad("shop", "orders", 5, [], []),
                ],
            )
            with conn.cursor() as cur:
                cur.execute(
                    f'update "{settings.postgres.build_schema}".raw_schema_changes set loaded_at = %s',
                    (later,),
                )
                cur.execute(
                    f'create table "{location.published}".raw_schema_changes as '
                    f'table "{settings.postgres.build_schema}".raw_schema_changes'
                )
                cur.execute(
                    f'select source_name, table_name, columns_added, columns_missing from "{location.published}".raw_schema_changes'
                )
                assert cur.fetchall() == [("crm", "contacts", "email_address", "email")]
        conn.close()
        write_warehouse(location, rows[:34])
        held = run_sync(config, location, env=env, clock=FakeClock())
        assert (held.status, held.removes_held) == ("held", 6)
        assert "crm.contacts (missing email; new email_address)" in (held.hold_reason or "")
        assert len(webhook.store) == 40
        assert query(location, "select status, removes_held from sync_runs order by started_at")[-1] == (
            "held",
            6,
        )
        released = run_sync(config, location, env=env, clock=FakeClock(), approve_removals=True)
        assert (released.status, released.removes) == ("success", 6) and len(webhook.store) == 34
    finally:
        webhook.stop()
        with psycopg2.connect(**location.connect) as conn, conn.cursor() as cur:
            cur.execute(f'drop schema if exists "{settings.postgres.build_schema}" cascade')
        conn.close()
