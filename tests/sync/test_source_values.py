"""Every value reaches the destination as the warehouse holds it, whichever store read it: on Postgres
the source is streamed out as CSV, so quotes, commas, newlines, the null marker as text, empty strings and
nulls must all survive, and an unchanged re-run must find the same hashes (nothing resent)."""

from __future__ import annotations

from datetime import datetime

import pyarrow as pa

from orchestration.sync.engine import run_sync
from tests.sync.conftest import Paths
from tests.sync.fakes import WebhookFake
from tests.sync.helpers import WEBHOOK_SECRET, FakeClock, make_config, write_warehouse

ENV = {"HOOK_SECRET": WEBHOOK_SECRET}
AWKWARD = [
    'a,"b"\nc',
    "\\N",
    "",
    None,
    "  spaces  ",
    "emoji 😀 and ünïcödé",
    "tab\there; back\\slash",
    "'; drop table sync_runs; --",
]


def test_awkward_values_arrive_unchanged_and_are_not_resent(paths: Paths, webhook: WebhookFake) -> None:
    rows = [
        {
            "customer_id": f"c{i}",
            "first_name": value,
            "score": i if i % 3 else None,
            "seen_at": datetime(2026, 1, 2, 3, 4, 5, 123456) if i % 2 else None,
            "has_consent_email_marketing": True,
        }
        for i, value in enumerate(AWKWARD)
    ]
    schema = pa.schema(
        [
            ("customer_id", pa.string()),
            ("first_name", pa.string()),
            ("score", pa.int64()),
            ("seen_at", pa.timestamp("us")),
            ("has_consent_email_marketing", pa.bool_()),
        ]
    )
    write_warehouse(paths.warehouse, rows, schema=schema)
    destination = {"type": "webhook", "url": f"{webhook.url}/hook", "secret_env": "HOOK_SECRET"}
    config = make_config(
        destination, mapping={"first_name": "first_name", "score": "score", "seen_at": "seen_at"}
    )
    first = run_sync(config, paths.warehouse, paths.state, env=ENV, clock=FakeClock())
    assert (first.status, first.succeeded) == ("success", len(rows)), first.error
    for row in rows:
        fields = webhook.store[row["customer_id"]]
        assert fields["first_name"] == row["first_name"], row["customer_id"]
        assert fields["score"] == row["score"]
        assert (fields["seen_at"] is None) == (row["seen_at"] is None)
        if row["seen_at"] is not None:
            assert fields["seen_at"].startswith("2026-01-02") and "03:04:05.123456" in fields["seen_at"]
    again = run_sync(config, paths.warehouse, paths.state, env=ENV, clock=FakeClock())
    assert (again.status, again.unchanged, again.requests) == ("success", len(rows), 0)
