"""The engine's behaviour, end to end against a local webhook receiver: diff, guards, consent, history,
retries, splitting and the journal."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import duckdb
import pytest

from orchestration.sync.config import SyncConfig
from orchestration.sync.engine import preview_sync, run_sync
from orchestration.sync.errors import SyncConfigError
from orchestration.sync.localserver import Fault, FaultSchedule
from orchestration.sync.state import publish_state
from tests.sync.conftest import Paths
from tests.sync.fakes import WebhookFake
from tests.sync.helpers import (
    WEBHOOK_SECRET,
    FakeClock,
    execute,
    make_config,
    people,
    query,
    state_exists,
    state_rows,
    state_snapshot,
    write_warehouse,
)

ENV = {"HOOK_SECRET": WEBHOOK_SECRET}
MAPPING = {"email": "email", "first_name": "first_name"}


def hook(
    webhook: WebhookFake, *, mode: str = "upsert", batch_size: int = 100, timeout: float = 5.0, **kw: Any
) -> SyncConfig:
    destination = {
        "type": "webhook",
        "url": f"{webhook.url}/hook",
        "secret_env": "HOOK_SECRET",
        "batch_size": batch_size,
        "timeout_seconds": timeout,
    }
    return make_config(destination, mode=mode, mapping=kw.pop("mapping", MAPPING), **kw)


def run(config: SyncConfig, paths: Paths, clock: FakeClock | None = None, **kw: Any):
    return run_sync(
        config, paths.warehouse, paths.state, env=kw.pop("env", ENV), clock=clock or FakeClock(), **kw
    )


def test_first_run_sends_everything_and_an_unchanged_rerun_sends_nothing(
    paths: Paths, webhook: WebhookFake
) -> None:
    write_warehouse(paths.warehouse, people(250))
    config = hook(webhook)
    first = run(config, paths)
    assert first.status == "success"
    assert (first.adds, first.succeeded, first.requests) == (250, 250, 3)
    assert webhook.batch_sizes == [100, 100, 50]
    assert set(webhook.store) == {f"c{i:05d}" for i in range(250)}
    assert webhook.store["c00007"] == {"email": "Person.7@Example.com ", "first_name": "Name7"}

    second = run(config, paths)
    assert second.status == "success"
    assert (second.adds, second.changes, second.unchanged, second.requests) == (0, 0, 250, 0)
    assert webhook.request_count() == 3


def test_the_diff_covers_mapped_columns_only(paths: Paths, webhook: WebhookFake) -> None:
    rows = people(20)
    write_warehouse(paths.warehouse, rows)
    config = hook(webhook)
    run(config, paths)
    for row in rows:
        row["score"] += 1000  # not mapped
    write_warehouse(paths.warehouse, rows)
    assert run(config, paths).requests == 0
    rows[3]["first_name"] = "Renamed"
    write_warehouse(paths.warehouse, rows)
    result = run(config, paths)
    assert (result.changes, result.sent, result.requests) == (1, 1, 1)
    assert webhook.store["c00003"]["first_name"] == "Renamed"


def test_mirror_mode_sends_adds_changes_and_removes(paths: Paths, webhook: WebhookFake) -> None:
    rows = people(10)
    write_warehouse(paths.warehouse, rows)
    config = hook(webhook, mode="mirror")
    run(config, paths)
    rows[0]["first_name"] = "Changed"
    rows[1]["email"] = "new@example.com"
    del rows[9]
    rows += people(3, start=100)
    write_warehouse(paths.warehouse, rows)
    result = run(config, paths)
    assert (result.adds, result.changes, result.removes) == (3, 2, 1)
    assert result.status == "success"
    assert set(webhook.store) == {row["customer_id"] for row in rows}
    assert [d["operation"] for d in webhook.deliveries][-2:] == ["delete", "upsert"]
    assert "c00009" not in state_rows(paths.state)


def test_null_and_duplicate_keys_are_reported_and_not_sent(paths: Paths, webhook: WebhookFake) -> None:
    rows = people(6)
    rows[0]["customer_id"] = None
    rows[1]["customer_id"] = None
    rows[3]["customer_id"] = rows[2]["customer_id"]  # c00002 twice
    write_warehouse(paths.warehouse, rows)
    config = hook(webhook)
    result = run(config, paths)
    assert (result.invalid, result.adds) == (4, 2)
    assert set(webhook.store) == {"c00004", "c00005"}
    logged = query(
        paths.state,
        "select key, error from sync_record_log where status = 'invalid' and run_id = ? order by key nulls first",
        [result.run_id],
    )
    assert logged == [(None, "null primary key"), ("c00002", "duplicate primary key")]
    assert preview_sync(config, paths.warehouse, paths.state).samples["invalid"][1] == {
        "key": "c00002",
        "reason": "duplicate primary key",
    }


def test_consent_is_denied_by_default(paths: Paths, webhook: WebhookFake) -> None:
    rows = people(3, consent=True) + people(2, start=3, consent=False) + people(2, start=5, consent=None)
    write_warehouse(paths.warehouse, rows)
    result = run(hook(webhook), paths)
    assert (result.adds, result.consent_excluded) == (3, 4)
    assert set(webhook.store) == {"c00000", "c00001", "c00002"}
    basis = query(
        paths.state, "select distinct consent_basis from sync_record_log where status = 'succeeded'"
    )
    assert basis == [("granted:email_marketing",)]


def test_a_missing_consent_column_excludes_every_row(paths: Paths, webhook: WebhookFake) -> None:
    write_warehouse(paths.warehouse, people(5))
    result = run(hook(webhook, consent_purpose="sms_marketing"), paths)
    assert (result.adds, result.consent_excluded, result.requests) == (0, 5, 0)
    assert webhook.store == {}


def test_a_sync_without_a_consent_purpose_sends_every_valid_row(paths: Paths, webhook: WebhookFake) -> None:
    write_warehouse(paths.warehouse, people(5, consent=None))
    result = run(hook(webhook, consent_purpose=None), paths)
    assert (result.adds, result.consent_excluded) == (5, 0)


def test_withdrawn_consent_removes_the_person_from_an_audience(paths: Paths, webhook: WebhookFake) -> None:
    rows = people(10)
    write_warehouse(paths.warehouse, rows)
    config = hook(webhook, mode="audience")
    run(config, paths)
    rows[4]["has_consent_email_marketing"] = False
    write_warehouse(paths.warehouse, rows)
    result = run(config, paths)
    assert (result.removes, result.consent_excluded) == (1, 1)
    assert "c00004" not in webhook.store
    assert query(
        paths.state,
        "select operation, status, consent_basis from sync_record_log where run_id = ?",
        [result.run_id],
    ) == [("remove", "succeeded", "withdrawn:email_marketing")]


def test_an_empty_source_never_triggers_deletes(paths: Paths, webhook: WebhookFake) -> None:
    write_warehouse(paths.warehouse, people(10))
    config = hook(webhook, mode="mirror", limits={"max_remove_share": 1.0})
    run(config, paths)
    write_warehouse(paths.warehouse, [])
    result = run(config, paths, force=True)
    assert (result.removes, result.removes_suppressed, result.requests) == (0, 10, 0)
    assert len(webhook.store) == 10
    assert len(state_rows(paths.state)) == 10


def test_too_many_removes_abort_before_anything_is_sent_unless_forced(
    paths: Paths, webhook: WebhookFake
) -> None:
    rows = people(10)
    write_warehouse(paths.warehouse, rows)
    config = hook(webhook, mode="mirror")
    run(config, paths)
    sent_before = webhook.request_count()
    write_warehouse(paths.warehouse, rows[3:] + people(2, start=50))  # 3 of 10 removed = 30% > 20%

    aborted = run(config, paths)
    assert aborted.status == "aborted" and not aborted.ok
    assert "would remove 3 of 10" in (aborted.error or "")
    assert webhook.request_count() == sent_before  # not even the adds went out
    assert query(paths.state, "select status from sync_runs where run_id = ?", [aborted.run_id]) == [
        ("aborted",)
    ]

    forced = run(config, paths, force=True)
    assert forced.status == "success" and (forced.removes, forced.adds) == (3, 2)
    assert set(webhook.store) == {row["customer_id"] for row in rows[3:] + people(2, start=50)}


def test_the_removal_share_is_configurable(paths: Paths, webhook: WebhookFake) -> None:
    rows = people(10)
    write_warehouse(paths.warehouse, rows)
    config = hook(webhook, mode="mirror", limits={"max_remove_share": 0.5})
    run(config, paths)
    write_warehouse(paths.warehouse, rows[4:])
    assert run(config, paths).status == "success"


def test_dry_run_counts_and_samples_without_sending_or_writing(paths: Paths, webhook: WebhookFake) -> None:
    rows = people(8) + people(2, start=8, consent=False)
    write_warehouse(paths.warehouse, rows)
    config = hook(webhook, mode="mirror")
    result = run(config, paths, dry_run=True)
    assert result.status == "dry_run" and result.preview is not None
    assert (result.adds, result.consent_excluded, result.requests) == (8, 2, 0)
    assert [s["key"] for s in result.preview.samples["adds"]] == [f"c0000{i}" for i in range(5)]
    assert result.preview.samples["consent_excluded"] == [{"key": "c00008"}, {"key": "c00009"}]
    assert not state_exists(paths.state)  # nothing written
    assert webhook.request_count() == 0

    run(config, paths)
    before = state_snapshot(paths.state)
    write_warehouse(paths.warehouse, rows[:4])
    preview = preview_sync(config, paths.warehouse, paths.state)
    assert (preview.removes, preview.destination_rows) == (4, 8)
    assert preview.would_abort is not None  # 50% removes
    assert preview.samples["removes"][0]["key"] == "c00004"
    assert state_snapshot(paths.state) == before


def test_every_run_writes_history_and_a_record_log(paths: Paths, webhook: WebhookFake) -> None:
    write_warehouse(paths.warehouse, people(3))
    webhook.refuse["c00001"] = "mailbox full"
    result = run(hook(webhook), paths)
    assert result.status == "partial"
    runs = query(
        paths.state,
        "select sync_name, status, adds, sent, succeeded, failed, requests from sync_runs where run_id = ?",
        [result.run_id],
    )
    assert runs == [("test_sync", "partial", 3, 3, 2, 1, 1)]
    log = query(
        paths.state,
        "select sync_name, run_id, key, operation, status, error, consent_basis from sync_record_log order by key",
    )
    assert log == [
        ("test_sync", result.run_id, "c00000", "upsert", "succeeded", None, "granted:email_marketing"),
        ("test_sync", result.run_id, "c00001", "upsert", "failed", "mailbox full", "granted:email_marketing"),
        ("test_sync", result.run_id, "c00002", "upsert", "succeeded", None, "granted:email_marketing"),
    ]


def test_state_is_committed_only_for_confirmed_records_and_failures_retry(
    paths: Paths, webhook: WebhookFake
) -> None:
    write_warehouse(paths.warehouse, people(10))
    config = hook(webhook)
    webhook.refuse.update({"c00002": "nope", "c00007": "nope"})
    first = run(config, paths)
    assert (first.succeeded, first.failed) == (8, 2)
    state = state_rows(paths.state)
    assert state["c00002"]["status"] == "failed" and state["c00002"]["payload_hash"] is None
    assert (state["c00002"]["attempts"], state["c00002"]["last_error"]) == (1, "nope")
    assert state["c00003"]["status"] == "synced" and state["c00003"]["payload_hash"]

    second = run(config, paths)  # still refused: only the two are retried
    assert (second.adds, second.sent, second.failed) == (2, 2, 2)
    assert state_rows(paths.state)["c00002"]["attempts"] == 2

    webhook.refuse.clear()
    third = run(config, paths)
    assert (third.adds, third.succeeded, third.status) == (2, 2, "success")
    assert all(count == 1 for count in webhook.accepted.values()) and len(webhook.accepted) == 10


def test_a_record_refused_too_often_waits_until_its_data_changes(paths: Paths, webhook: WebhookFake) -> None:
    rows = people(3)
    write_warehouse(paths.warehouse, rows)
    config = hook(webhook, limits={"max_record_attempts": 2})
    webhook.refuse["c00001"] = "invalid"
    run(config, paths)
    run(config, paths)
    third = run(config, paths)
    assert (third.skipped, third.sent, third.requests) == (1, 0, 0)
    rows[1]["first_name"] = "Fixed"
    write_warehouse(paths.warehouse, rows)
    webhook.refuse.clear()
    fourth = run(config, paths)
    assert (fourth.skipped, fourth.succeeded) == (0, 1)


def test_a_429_waits_as_long_as_retry_after_says(paths: Paths, clock: FakeClock) -> None:
    webhook = WebhookFake(WEBHOOK_SECRET).start(FaultSchedule({1: Fault("status", 429, retry_after=7)}))
    try:
        write_warehouse(paths.warehouse, people(5))
        result = run(hook(webhook), paths, clock=clock)
        assert result.status == "success" and result.requests == 2
        assert sum(clock.sleeps) >= 7.0
        assert webhook.accepted == {f"c0000{i}": 1 for i in range(5)}
    finally:
        webhook.stop()


def test_5xx_timeouts_and_dropped_connections_are_retried_with_backoff(
    paths: Paths, clock: FakeClock
) -> None:
    faults = FaultSchedule(
        {1: Fault("status", 500), 2: Fault("status", 503), 3: Fault("slow", delay=0.6), 4: Fault("drop")}
    )
    webhook = WebhookFake(WEBHOOK_SECRET).start(faults)
    try:
        write_warehouse(paths.warehouse, people(5))
        result = run(hook(webhook, timeout=0.3), paths, clock=clock)
        assert result.status == "success" and result.requests == 5
        backoffs = [s for s in clock.sleeps if s < 5]
        assert len(backoffs) >= 4
        assert max(backoffs) <= 0.5 * 2**3  # full jitter under min(cap, base * 2**(n-1))
        assert webhook.accepted == {f"c0000{i}": 1 for i in range(5)}
    finally:
        webhook.stop()


def test_a_timeout_after_the_server_accepted_does_not_duplicate(paths: Paths, clock: FakeClock) -> None:
    webhook = WebhookFake(WEBHOOK_SECRET).start(FaultSchedule({1: Fault("slow_after", delay=0.6)}))
    try:
        write_warehouse(paths.warehouse, people(5))
        result = run(hook(webhook, timeout=0.3), paths, clock=clock)
        assert result.status == "success"
        assert webhook.redeliveries == 1  # the retry carried the same webhook-id and was dropped
        assert webhook.accepted == {f"c0000{i}": 1 for i in range(5)}
    finally:
        webhook.stop()


def test_exhausted_retries_keep_the_batch_for_the_next_run_under_the_same_key(
    paths: Paths, clock: FakeClock
) -> None:
    # The first attempt is accepted but its answer is lost; the retry fails too; the run gives up.
    faults = FaultSchedule({1: Fault("slow_after", delay=0.6), 2: Fault("status", 502)})
    webhook = WebhookFake(WEBHOOK_SECRET).start(faults)
    try:
        write_warehouse(paths.warehouse, people(5))
        config = hook(webhook, timeout=0.3, limits={"max_attempts": 2})
        first = run(config, paths, clock=clock)
        assert first.status == "failed" and "failed 2 times" in (first.error or "")
        pending = query(paths.state, "select idempotency_key, attempts from sync_journal")
        assert len(pending) == 1 and pending[0][1] == 1
        assert state_rows(paths.state) == {}  # nothing confirmed, nothing committed

        second = run(config, paths, clock=clock)
        assert second.status == "success" and second.recovered == 5 and second.adds == 0
        assert webhook.deliveries[0]["id"] == f"msg_{pending[0][0]}"
        assert webhook.redeliveries == 1
        assert webhook.accepted == {f"c0000{i}": 1 for i in range(5)}
        assert query(paths.state, "select count(*) from sync_journal") == [(0,)]
        assert query(paths.state, "select status from sync_runs order by started_at") == [
            ("failed",),
            ("success",),
        ]
    finally:
        webhook.stop()


def test_a_rejected_batch_is_split_until_the_bad_record_is_found(paths: Paths, webhook: WebhookFake) -> None:
    write_warehouse(paths.warehouse, people(16))
    webhook.poison.add("c00011")
    result = run(hook(webhook, batch_size=16), paths)
    # Refused alone as invalid: rejected for its data, which does not make the run partial.
    assert (result.succeeded, result.rejected, result.status) == (15, 1, "success")
    # 1 whole batch + 2 halves + 2 quarters + 2 eighths + 2 singles.
    assert result.requests == 9
    state = state_rows(paths.state)
    assert state["c00011"]["status"] == "rejected" and "rejected" in state["c00011"]["last_error"]
    assert len(webhook.accepted) == 15 and set(webhook.accepted.values()) == {1}


def test_bad_credentials_fail_the_run_and_lose_nothing(paths: Paths, webhook: WebhookFake) -> None:
    write_warehouse(paths.warehouse, people(4))
    config = hook(webhook)
    wrong = "whsec_" + "A" * 44
    failed = run(config, paths, env={"HOOK_SECRET": wrong})
    assert failed.status == "failed" and "401" in (failed.error or "")
    assert wrong not in (failed.error or "")
    fixed = run(config, paths)
    assert fixed.status == "success" and fixed.recovered == 4
    assert len(webhook.store) == 4


def test_a_missing_secret_is_a_config_error_naming_the_variable(paths: Paths, webhook: WebhookFake) -> None:
    write_warehouse(paths.warehouse, people(2))
    with pytest.raises(SyncConfigError, match="HOOK_SECRET is not set"):
        run(hook(webhook), paths, env={})
    assert query(paths.state, "select status from sync_runs") == [("failed",)]


def test_a_missing_model_or_column_is_a_config_error(paths: Paths, webhook: WebhookFake) -> None:
    write_warehouse(paths.warehouse, people(2))
    with pytest.raises(SyncConfigError, match="not in the warehouse"):
        run(hook(webhook, model="nope"), paths)
    with pytest.raises(SyncConfigError, match="lifetime_value"):
        run(hook(webhook, mapping={"ltv": "lifetime_value"}), paths)


def test_insert_mode_sends_new_keys_only_and_update_mode_says_update(
    paths: Paths, webhook: WebhookFake
) -> None:
    rows = people(3)
    write_warehouse(paths.warehouse, rows)
    insert = hook(webhook, mode="insert", name="inserts")
    run(insert, paths)
    rows[0]["first_name"] = "Changed"
    write_warehouse(paths.warehouse, rows)
    assert run(insert, paths).requests == 0
    update = hook(webhook, mode="update", name="updates")
    run(update, paths)
    assert webhook.deliveries[0]["operation"] == "insert"
    assert webhook.deliveries[-1]["operation"] == "update"


def test_interrupted_runs_are_marked(paths: Paths, webhook: WebhookFake) -> None:
    write_warehouse(paths.warehouse, people(2))
    config = hook(webhook)
    run(config, paths)
    execute(paths.state, "update sync_runs set status = 'running', finished_at = null")
    run(config, paths)
    assert [s for (s,) in query(paths.state, "select status from sync_runs order by started_at")] == [
        "interrupted",
        "success",
    ]


def test_publish_state_gives_analysts_an_atomic_read_only_copy(
    duckdb_paths: Paths, webhook: WebhookFake, tmp_path: Path
) -> None:
    write_warehouse(duckdb_paths.warehouse, people(3))
    published = tmp_path / "published" / "sync_state.duckdb"
    run(hook(webhook), duckdb_paths, publish_to=published)
    conn = duckdb.connect(str(published), read_only=True)
    try:
        assert conn.execute("select count(*) from state__test_sync").fetchone() == (3,)
        assert conn.execute("select status from sync_runs").fetchall() == [("success",)]
    finally:
        conn.close()
    assert [p.name for p in published.parent.iterdir()] == ["sync_state.duckdb"]
    # A second publish replaces the file in one rename, while a reader could hold the old one.
    reader = duckdb.connect(str(published), read_only=True)
    run(hook(webhook), duckdb_paths)
    publish_state(duckdb_paths.state, published)
    reader.close()
    assert query(published, "select count(*) from sync_runs") == [(2,)]
    assert os.access(published, os.R_OK)


def test_a_batch_never_confirmed_goes_back_to_the_diff_after_max_recovery_attempts(paths: Paths) -> None:
    faults = FaultSchedule({n: Fault("status", 500) for n in (1, 2)})
    webhook = WebhookFake(WEBHOOK_SECRET).start(faults)
    try:
        write_warehouse(paths.warehouse, people(3))
        config = hook(webhook, limits={"max_attempts": 1, "max_recovery_attempts": 2})
        assert run(config, paths).status == "failed"  # journal attempts: 1
        assert run(config, paths).status == "failed"  # recovery failed too: 2
        third = run(config, paths)  # abandoned: its records are refused once, then re-sent by the diff
        assert third.status == "partial" and third.adds == 3 and third.succeeded == 3
        assert query(paths.state, "select count(*) from sync_journal") == [(0,)]
        fourth = run(config, paths)
        assert fourth.requests == 0
        assert webhook.accepted == {f"c0000{i}": 1 for i in range(3)}
    finally:
        webhook.stop()
