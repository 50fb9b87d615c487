"""Deletes wait for a person: removals after an upstream change (schema drift, a failed freshness check,
many customers changing id) are held, recorded with the reason, and released by --approve-removals."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import yaml  # type: ignore[import-untyped]

from orchestration.settings import Settings
from orchestration.sync.engine import run_sync
from orchestration.warehouse.connection import open_file
from orchestration.warehouse.interface import SyncLocation
from orchestration.warehouse.registry import get_warehouse
from tests.sync.conftest import Paths
from tests.sync.fakes import WebhookFake
from tests.sync.helpers import WEBHOOK_SECRET, FakeClock, make_config, people, query, write_warehouse

ENV = {"HOOK_SECRET": WEBHOOK_SECRET}
MAPPING = {"email": "email", "first_name": "first_name"}


def mirror(webhook: WebhookFake, **limits: Any):  # type: ignore[no-untyped-def]
    return make_config(
        {"type": "webhook", "url": f"{webhook.url}/hook", "secret_env": "HOOK_SECRET"},
        mapping=MAPPING,
        mode="mirror",
        limits=limits or None,
    )


def run(config, paths: Paths, **kw: Any):  # type: ignore[no-untyped-def]
    return run_sync(config, paths.warehouse, paths.state, env=ENV, clock=FakeClock(), **kw)


def later() -> datetime:
    return datetime.now(UTC).replace(tzinfo=None) + timedelta(seconds=1)


def test_an_empty_source_is_not_a_failed_freshness_check(
    paths: Paths, webhook: WebhookFake, tmp_path: Path
) -> None:
    """dbt reports a table with no rows as `error` with load time 0001-01-01: no data arrived (a source a
    company does not use), which is not stale data, so removals go."""
    rows = people(40)
    write_warehouse(paths.warehouse, rows)
    config = mirror(webhook)
    run(config, paths)
    sources = tmp_path / "sources.json"
    empty = {"status": "error", "max_loaded_at": "0001-01-01T00:00:00+00:00"}
    sources.write_text(
        json.dumps(
            {
                "metadata": {"generated_at": later().isoformat() + "Z"},
                "results": [
                    {"unique_id": "source.tessera.pos.transactions", **empty},
                    {"unique_id": "source.tessera.crm.contacts", "status": "pass"},
                ],
            }
        )
    )
    write_warehouse(paths.warehouse, rows[:34])
    result = run(config, paths, freshness_path=sources)
    assert (result.status, result.removes, result.removes_held) == ("success", 6, 0)
    assert len(webhook.store) == 34


# Through the CLI, with the drift recorded by a real raw load --------------------------------------


def _build(settings: Settings, contacts: pa.Table, audience: list[dict[str, Any]]) -> None:
    """What a build does for this test: start from the published file, load the raw files (which
    records schema drift), write the sync's model, publish by rename, keep a passing audit."""
    warehouse = get_warehouse(settings)
    (settings.raw_dir / "crm").mkdir(parents=True, exist_ok=True)
    pq.write_table(contacts, settings.raw_dir / "crm" / "contacts.parquet")
    warehouse.prepare_build()
    warehouse.load_raw(settings.raw_dir)
    con = open_file(settings.build_db)
    try:
        con.register("_rows", pa.Table.from_pylist(audience))
        con.execute("create or replace table main.audience as select * from _rows")
    finally:
        con.close()
    settings.published_db.parent.mkdir(parents=True, exist_ok=True)
    shutil.move(settings.build_db, settings.published_db)
    (settings.published_db.parent / "last_audit.duckdb.json").write_text(json.dumps({"passed": True}))


def test_removals_after_schema_drift_are_held_until_approved(tmp_path: Path, webhook: WebhookFake) -> None:
    env = {
        "TESSERA_TARGET": "duckdb",
        "TESSERA_WAREHOUSE": str(tmp_path / "warehouse" / "tessera.duckdb"),
        "TESSERA_BUILD_DB": str(tmp_path / "warehouse" / "build" / "tessera.duckdb"),
        "TESSERA_DATA_DIR": str(tmp_path / "data"),
        "TESSERA_PERSON_SOURCES": str(tmp_path / "person_sources.yml"),
        "TESSERA_SYNCS_FILE": str(tmp_path / "syncs.yml"),
        "DAGSTER_HOME": str(tmp_path / "dagster_home"),
        **ENV,
    }
    sync = {
        "name": "crm_mirror",
        "source": {"model": "audience", "primary_key": "customer_id"},
        "destination": {"type": "webhook", "url": f"{webhook.url}/hook", "secret_env": "HOOK_SECRET"},
        "mode": "mirror",
        "mapping": MAPPING,
        "schedule": "0 * * * *",
        "consent_purpose": "email_marketing",
    }
    (tmp_path / "syncs.yml").write_text(yaml.safe_dump({"syncs": [sync]}))
    settings = Settings.from_env(env)
    tessera = Path(sys.executable).with_name("tessera")

    def cli(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [str(tessera), "sync", "crm_mirror", *args],
            env={**os.environ, **env},
            capture_output=True,
            text=True,
            timeout=120,
        )

    columns = ["contact_id", "first_name", "last_name", "email", "phone", "street", "city", "postcode"]
    columns += ["region", "country", "job_title", "company", "date_of_birth", "created_at", "updated_at"]
    contacts = pa.table({c: [f"{c}-1", f"{c}-2"] for c in columns})
    rows = people(40)
    _build(settings, contacts, rows)
    first = cli()
    assert first.returncode == 0, first.stdout + first.stderr
    assert len(webhook.store) == 40

    # The CRM renames `company` (optional: a renamed required column stops the load, tests/test_raw_contract.py);
    # the build passes, and four people (10%) drop out of the model.
    renamed = contacts.rename_columns(["company_name" if c == "company" else c for c in columns])
    _build(settings, renamed, rows[:36])
    held = cli()
    assert held.returncode == 1, held.stdout + held.stderr
    assert '"status": "held"' in held.stdout and "--approve-removals" in held.stdout
    assert "raw schema changed: crm.contacts (missing company; new company_name)" in held.stdout
    assert len(webhook.store) == 40  # nothing deleted at the destination
    state = tmp_path / "warehouse" / "sync_state.duckdb"
    assert query(state, "select status, removes_held, hold_reason from sync_runs order by started_at")[1][
        :2
    ] == (
        "held",
        4,
    )
    reason = query(state, "select hold_reason from sync_runs where status = 'held'")[0][0]
    assert "4 removals (10% of 40" in reason and "missing company" in reason

    # Held again on the next run without approval: the change is still unreviewed.
    assert cli().returncode == 1 and len(webhook.store) == 40

    approved = cli("--approve-removals")
    assert approved.returncode == 0, approved.stdout + approved.stderr
    assert set(webhook.store) == {row["customer_id"] for row in rows[:36]}
    assert query(
        state, "select removals_approved, removes from sync_runs order by started_at desc limit 1"
    ) == [(True, 4)]


# The other signals, through the engine ----------------------------------------------------------


def test_the_same_removals_without_an_upstream_change_go_out(paths: Paths, webhook: WebhookFake) -> None:
    rows = people(40)
    write_warehouse(paths.warehouse, rows)
    config = mirror(webhook)
    run(config, paths)
    write_warehouse(paths.warehouse, rows[:36])
    result = run(config, paths)
    assert (result.status, result.removes, result.removes_held) == ("success", 4, 0)
    assert len(webhook.store) == 36


def _add_identity(path: Path | SyncLocation, customers: int, changed: int) -> None:
    write_warehouse(path, [{"customer_id": f"c{i}"} for i in range(customers)], table="customers")
    history = [
        {"old_customer_id": f"old{i}", "new_customer_id": "c1", "change_kind": "merge", "changed_at": later()}
        for i in range(changed)
    ]
    write_warehouse(path, history, table="customer_id_history")


def test_removals_after_many_customers_changed_id_are_held(paths: Paths, webhook: WebhookFake) -> None:
    rows = people(40)
    write_warehouse(paths.warehouse, rows)
    config = mirror(webhook, hold_id_change_share=0.1)
    run(config, paths)
    write_warehouse(paths.warehouse, rows[:36])
    _add_identity(paths.warehouse, customers=36, changed=3)  # 8%: under the configured share
    assert run(config, paths).status == "success" and len(webhook.store) == 36
    write_warehouse(paths.warehouse, rows[:30])
    _add_identity(paths.warehouse, customers=30, changed=6)  # 20%
    held = run(config, paths)
    assert (held.status, held.removes_held, held.removes) == ("held", 6, 0)
    assert "6 of 30 customers (20.0%) changed customer id" in (held.hold_reason or "")
    assert len(webhook.store) == 36


def test_removals_after_a_failed_freshness_check_are_held(
    paths: Paths, webhook: WebhookFake, tmp_path: Path
) -> None:
    rows = people(40)
    write_warehouse(paths.warehouse, rows)
    config = mirror(webhook)
    run(config, paths)
    sources = tmp_path / "sources.json"
    sources.write_text(
        json.dumps(
            {
                "metadata": {"generated_at": later().isoformat() + "Z"},
                "results": [
                    {"unique_id": "source.tessera.crm.contacts", "status": "error"},
                    {"unique_id": "source.tessera.shop.orders", "status": "pass"},
                ],
            }
        )
    )
    write_warehouse(paths.warehouse, [*rows[:34], *people(2, start=100)])
    held = run(config, paths, freshness_path=sources)
    assert (held.status, held.removes_held, held.adds) == ("held", 6, 2)
    assert "freshness check failed: tessera.crm.contacts" in (held.hold_reason or "")
    assert len(webhook.store) == 42  # the adds went, the removals did not
    released = run(config, paths, freshness_path=sources, approve_removals=True)
    assert (released.status, released.removes, released.removals_approved) == ("success", 6, True)
    assert len(webhook.store) == 36
