"""Records a destination refuses: permanent refusals wait for changed data, the rest are retried, and
changed data always gets a fresh start."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from orchestration.sync.engine import run_sync
from tests.sync.conftest import Paths
from tests.sync.fakes import HubSpotFake, WebhookFake
from tests.sync.helpers import WEBHOOK_SECRET, FakeClock, make_config, people, state_rows, write_warehouse

HUBSPOT_ENV = {"HUBSPOT_TOKEN": "pat-test-token"}


@pytest.fixture
def hubspot() -> Iterator[HubSpotFake]:
    fake = HubSpotFake().start()
    try:
        yield fake
    finally:
        fake.stop()


def hubspot_run(fake: HubSpotFake, paths: Paths):  # type: ignore[no-untyped-def]
    config = make_config(
        {"type": "hubspot", "base_url": fake.url, "token_env": "HUBSPOT_TOKEN"},
        mapping={"email": "email", "firstname": "first_name"},
    )
    return run_sync(config, paths.warehouse, paths.state, env=HUBSPOT_ENV, clock=FakeClock())


def test_a_validation_error_is_not_resent_until_the_record_changes(
    hubspot: HubSpotFake, paths: Paths
) -> None:
    rows = people(6)
    write_warehouse(paths.warehouse, rows)
    bad = rows[2]["email"].strip().lower()
    hubspot.refuse[bad] = "Email address person.2@example.com is invalid"  # VALIDATION_ERROR
    first = hubspot_run(hubspot, paths)
    assert (first.status, first.succeeded, first.failed, first.rejected) == ("success", 5, 0, 1)
    assert first.ok
    assert state_rows(paths.state)["c00002"]["status"] == "rejected"

    before = hubspot.request_count()
    again = hubspot_run(hubspot, paths)
    assert (again.status, again.requests, again.sent) == ("success", 0, 0)
    assert (again.skipped, again.rejected) == (1, 1)
    assert again.ok and hubspot.request_count() == before

    rows[2]["first_name"] = "Corrected"
    write_warehouse(paths.warehouse, rows)
    hubspot.refuse.clear()
    fixed = hubspot_run(hubspot, paths)
    assert (fixed.status, fixed.sent, fixed.succeeded, fixed.rejected) == ("success", 1, 1, 0)
    assert hubspot.store[bad]["firstname"] == "Corrected"


def test_a_rate_limit_refusal_is_retried_on_the_next_run(hubspot: HubSpotFake, paths: Paths) -> None:
    rows = people(3)
    write_warehouse(paths.warehouse, rows)
    config = make_config(
        {"type": "hubspot", "base_url": hubspot.url, "token_env": "HUBSPOT_TOKEN"},
        mapping={"email": "email", "firstname": "first_name"},
        mode="update",
    )
    first = run_sync(config, paths.warehouse, paths.state, env=HUBSPOT_ENV, clock=FakeClock())
    # OBJECT_NOT_FOUND in update mode may pass once the contact exists: retried, and the run is partial.
    assert (first.status, first.failed, first.rejected) == ("partial", 3, 0)
    again = run_sync(config, paths.warehouse, paths.state, env=HUBSPOT_ENV, clock=FakeClock())
    assert (again.sent, again.failed) == (3, 3)


def test_changed_data_resets_the_attempt_count(paths: Paths, webhook: WebhookFake) -> None:
    rows = people(3)
    write_warehouse(paths.warehouse, rows)
    config = make_config(
        {"type": "webhook", "url": f"{webhook.url}/hook", "secret_env": "HOOK_SECRET"},
        mapping={"email": "email", "first_name": "first_name"},
        limits={"max_record_attempts": 2},
    )
    env = {"HOOK_SECRET": WEBHOOK_SECRET}

    def run():  # type: ignore[no-untyped-def]
        return run_sync(config, paths.warehouse, paths.state, env=env, clock=FakeClock())

    webhook.refuse["c00001"] = "try later"
    run()
    run()
    assert state_rows(paths.state)["c00001"]["attempts"] == 2
    assert run().skipped == 1
    rows[1]["first_name"] = "Changed"
    write_warehouse(paths.warehouse, rows)
    changed = run()
    assert (changed.sent, changed.failed) == (1, 1)
    # The changed record starts afresh: a full max_record_attempts of runs, not one.
    assert state_rows(paths.state)["c00001"]["attempts"] == 1
    assert run().sent == 1
    assert state_rows(paths.state)["c00001"]["attempts"] == 2
    assert run().sent == 0
