"""Erasure reaches the sync state through the store, on DuckDB and on Postgres alike: the person's state
rows (handed over first, so the destinations can be told), their record-log rows and their entries in
unconfirmed batches are gone, and nothing else is."""

from __future__ import annotations

import json
from typing import Any

import pyarrow as pa

from orchestration.privacy.scan import byte_terms, match_condition
from orchestration.sync.engine import run_sync
from orchestration.sync.stores import duckdb_location, open_store, state_exists
from tests.sync.conftest import Paths
from tests.sync.fakes import WebhookFake
from tests.sync.helpers import (
    WEBHOOK_SECRET,
    FakeClock,
    make_config,
    people,
    query,
    state_rows,
    write_warehouse,
)

ENV = {"HOOK_SECRET": WEBHOOK_SECRET}


def test_forgetting_a_person_clears_state_log_and_journal(paths: Paths, webhook: WebhookFake) -> None:
    destination = {
        "type": "webhook",
        "url": f"{webhook.url}/hook",
        "secret_env": "HOOK_SECRET",
        "batch_size": 10,
    }
    config = make_config(destination, mapping={"email": "email", "first_name": "first_name"})
    location = duckdb_location(paths.warehouse, paths.state)
    assert not state_exists(location)
    write_warehouse(paths.warehouse, people(4))
    assert run_sync(config, paths.warehouse, paths.state, env=ENV, clock=FakeClock()).status == "success"
    assert state_exists(location)
    # An unconfirmed batch holding one of the two people and someone else.
    entries = [
        {"k": "c00002", "b": {"email": "person.2@example.com"}, "w": 1},
        {"k": "c00003", "b": {"email": "person.3@example.com"}, "w": 1},
    ]
    store = open_store(location)
    try:
        store.add_pending("test_sync", "r1", "r1-000001", "upsert", json.dumps(entries), 2)
        held: dict[str, Any] = {}
        # c00001 by key; c00002 by a term (its email, in a hostile case with a % and a quote around).
        terms = ["person.2@example.com", "50%'; drop table sync_runs; --"]
        counts = store.forget(
            ["c00001"],
            lambda columns: match_condition(columns, terms),
            byte_terms(terms),
            lambda sync_name, rows: held.setdefault(sync_name, rows),
        )
    finally:
        store.close()
    assert sorted(key for key, _, _ in held["test_sync"]) == ["c00001", "c00002"]
    assert all("Person" in (payload or "") for _, _, payload in held["test_sync"])
    assert counts["state__test_sync"] == 2 and counts["sync_journal"] == 1
    assert sorted(state_rows(paths.state)) == ["c00000", "c00003"]
    logged = {key for (key,) in query(paths.state, "select key from sync_record_log")}
    assert logged == {"c00000", "c00003"}
    (items,) = query(paths.state, "select items from sync_journal")[0]
    assert [e["k"] for e in json.loads(items)] == ["c00003"]
    assert query(paths.state, "select count(*) from sync_runs") == [(1,)]


def test_the_consent_audit_reads_the_record_log_where_the_store_keeps_it(
    paths: Paths, webhook: WebhookFake
) -> None:
    """Consent at send (orchestration/consent/audit.py) on DuckDB files and on the Postgres schemas."""
    from datetime import datetime

    from orchestration.consent.audit import audit_at_location

    rows = people(3)
    for i, row in enumerate(rows):
        row["consent_basis_email_marketing"] = f"ev{i}"
    write_warehouse(paths.warehouse, rows)
    granted = datetime(2020, 1, 1)
    consent = [
        {
            "consent_event_id": f"ev{i}",
            "customer_id": f"c{i:05d}",
            "consent_purpose": "email_marketing",
            # c00002's row is a withdrawal: its send had no valid consent.
            "consent_status": "withdrawn" if i == 2 else "granted",
            "consent_source": "crm",
            "valid_from": granted,
            "valid_to": None,
        }
        for i in range(3)
    ]
    consent_schema = pa.schema(
        [(name, pa.timestamp("us") if name.startswith("valid") else pa.string()) for name in consent[0]]
    )
    write_warehouse(paths.warehouse, consent, table="consent_history", schema=consent_schema)
    history_schema = pa.schema(
        [("old_customer_id", pa.string()), ("new_customer_id", pa.string()), ("change_kind", pa.string())]
    )
    write_warehouse(paths.warehouse, [], table="customer_id_history", schema=history_schema)
    destination = {"type": "webhook", "url": f"{webhook.url}/hook", "secret_env": "HOOK_SECRET"}
    config = make_config(destination, mapping={"email": "email"})
    assert run_sync(config, paths.warehouse, paths.state, env=ENV, clock=FakeClock()).status == "success"

    audit = audit_at_location(
        duckdb_location(paths.warehouse, paths.state), customer_keyed_syncs=["test_sync"]
    )
    assert audit.sends == 3
    assert {row["record_key"]: row["is_consent_valid"] for row in audit.rows} == {
        "c00000": True,
        "c00001": True,
        "c00002": False,
    }
