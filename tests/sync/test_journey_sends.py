"""A journey's sync step is an event per entry, not a membership (docs/journeys.md, "Sent once per
entry"): a record confirmed sent for a (customer, entry) is never sent again for that entry, leaving the
ready set sends no removal, and a later entry is sent again. Hand-made sync_journey__members tables;
each test that takes `paths` runs on the DuckDB store and on the Postgres store."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pyarrow as pa

from orchestration.sync.config import SyncConfig, parse_syncs
from orchestration.sync.engine import preview_sync, run_sync
from tests.sync.conftest import Paths
from tests.sync.fakes import WebhookFake
from tests.sync.helpers import WEBHOOK_SECRET, FakeClock, query, write_warehouse

ENV = {"HOOK_SECRET": WEBHOOK_SECRET}
NOON = datetime(2026, 1, 15, 12, 0, tzinfo=UTC)
MODEL = "sync_journey__members"
SCHEMA = pa.schema(
    [
        ("journey_name", pa.string()),
        ("customer_id", pa.string()),
        ("email", pa.string()),
        ("is_holdout", pa.bool_()),
        ("is_global_holdout", pa.bool_()),
        ("has_consent_email_marketing", pa.bool_()),
        ("entered_at", pa.timestamp("us")),
    ]
)
FIRST_ENTRY = datetime(2026, 1, 10, 9, 0)


def ready(*members: tuple[str, datetime], email: str = "{key}@example.com") -> list[dict[str, Any]]:
    return [
        {
            "journey_name": "cart_recovery",
            "customer_id": key,
            "email": email.format(key=key),
            "is_holdout": False,
            "is_global_holdout": False,
            "has_consent_email_marketing": True,
            "entered_at": entered_at,
        }
        for key, entered_at in members
    ]


def journey_dict(webhook: WebhookFake, mode: str = "mirror", **extra: Any) -> dict[str, Any]:
    return {
        "name": "recovery",
        "source": {"journey": "cart_recovery"},  # journeys/cart_recovery.yml of the project
        "destination": {"type": "webhook", "url": f"{webhook.url}/hook", "secret_env": "HOOK_SECRET"},
        "mode": mode,
        "mapping": {"email": "email"},
        "schedule": "0 * * * *",
        "consent_purpose": "email_marketing",
        "limits": {"max_remove_share": 1, "hold_remove_share": 1},
        **extra,
    }


def journey_sync(webhook: WebhookFake, mode: str = "mirror", **extra: Any) -> SyncConfig:
    return parse_syncs({"syncs": [journey_dict(webhook, mode, **extra)]})[0]


def run(config: SyncConfig, paths: Paths, rows: list[dict[str, Any]]):  # type: ignore[no-untyped-def]
    write_warehouse(paths.warehouse, rows, table=MODEL, schema=SCHEMA)
    result = run_sync(config, paths.warehouse, paths.state, env=ENV, clock=FakeClock(), now=lambda: NOON)
    assert result.status == "success", result.error
    return result


def sent_keys(webhook: WebhookFake) -> list[str]:
    return sorted(key for d in webhook.deliveries for key in d["keys"] if d["operation"] != "delete")


def test_a_journey_step_is_sent_once_per_entry(paths: Paths, webhook: WebhookFake) -> None:
    config = journey_sync(webhook)
    first = run(config, paths, ready(("c1", FIRST_ENTRY), ("c2", FIRST_ENTRY)))
    assert (first.adds, first.succeeded) == (2, 2)
    assert sent_keys(webhook) == ["c1", "c2"]

    # c1's trait condition flips: c1 leaves the ready set. No removal is sent, and state keeps c1.
    left = run(config, paths, ready(("c2", FIRST_ENTRY)))
    assert (left.removes, left.sent) == (0, 0)
    assert not [d for d in webhook.deliveries if d["operation"] == "delete"]

    # The condition holds again, for the same entry: c1 is not sent a second time.
    back = run(config, paths, ready(("c1", FIRST_ENTRY), ("c2", FIRST_ENTRY)))
    assert (back.adds, back.changes, back.sent, back.unchanged) == (0, 0, 0, 2)
    # Nor when the record's data changes within the entry: the step was sent for this entry.
    changed = run(
        config, paths, ready(("c1", FIRST_ENTRY), ("c2", FIRST_ENTRY), email="new.{key}@example.com")
    )
    assert changed.sent == 0
    assert sent_keys(webhook) == ["c1", "c2"]

    # A new entry into the audience (a later entered_at) is a new pass: sent again, as an add.
    again = run(config, paths, ready(("c1", datetime(2026, 1, 14, 9, 0)), ("c2", FIRST_ENTRY)))
    assert (again.adds, again.changes, again.succeeded) == (1, 0, 1)
    assert sent_keys(webhook) == ["c1", "c1", "c2"]
    logged = query(
        paths.state,
        "select key, operation, status from sync_record_log where sync_name = 'recovery' "
        "and status = 'succeeded' order by logged_at, key",
    )
    assert logged == [
        ("c1", "upsert", "succeeded"),
        ("c2", "upsert", "succeeded"),
        ("c1", "upsert", "succeeded"),
    ]


def test_the_dry_run_of_a_journey_sync_shows_no_removal(paths: Paths, webhook: WebhookFake) -> None:
    config = journey_sync(webhook)
    run(config, paths, ready(("c1", FIRST_ENTRY), ("c2", FIRST_ENTRY)))
    write_warehouse(
        paths.warehouse, ready(("c2", FIRST_ENTRY), ("c3", FIRST_ENTRY)), table=MODEL, schema=SCHEMA
    )
    preview = preview_sync(config, paths.warehouse, paths.state)
    assert (preview.adds, preview.removes, preview.unchanged) == (1, 0, 1)


def test_a_journey_re_entry_counts_against_a_frequency_cap(paths: Paths, webhook: WebhookFake) -> None:
    """A new entry's send is an add: a cap on the channel counts it and holds it back."""
    data = {
        "syncs": [journey_dict(webhook, channel="email")],
        "frequency_caps": [{"channel": "email", "max": 1, "per": "7d"}],
    }
    [config] = parse_syncs(data)
    run(config, paths, ready(("c1", FIRST_ENTRY)))
    capped = run(config, paths, ready(("c1", datetime(2026, 1, 14, 9, 0))))
    assert (capped.adds, capped.capped, capped.sent) == (0, 1, 0)


def test_state_kept_before_sends_were_per_entry_is_not_sent_again(paths: Paths, webhook: WebhookFake) -> None:
    """A journey sync's state from before (payload_hash without an entry mark) counts as sent for the
    entry it was sent in (last_sent_at at or after entered_at): the upgrade resends nothing."""
    from tests.sync.helpers import execute

    config = journey_sync(webhook)
    run(config, paths, ready(("c1", FIRST_ENTRY)))
    execute(paths.state, "update state__recovery set payload_hash = md5(payload)")
    assert run(config, paths, ready(("c1", FIRST_ENTRY))).sent == 0
    # An entry after that send (last_sent_at is the engine's wall clock) is a new pass.
    later = run(config, paths, ready(("c1", datetime(2099, 1, 1))))
    assert (later.adds, later.succeeded) == (1, 1)
    [(hash_,)] = query(paths.state, "select payload_hash from state__recovery")
    assert hash_.startswith("entry:2099-01-01 00:00:00:")
