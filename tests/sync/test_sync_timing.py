"""Send timing (quiet hours per recipient, on: entry) and frequency caps across syncs per channel.

Time is frozen by handing `run_sync` a wall clock (`now=`), never by sleeping. Each test that takes
`paths` runs on the DuckDB store and on the Postgres store."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, time, timedelta
from typing import Any

import pytest

from orchestration.sync.config import ENTRY_SCHEDULE, SyncConfig, parse_syncs
from orchestration.sync.engine import run_sync
from orchestration.sync.errors import SyncConfigError
from orchestration.sync.stores.postgres import PostgresStore
from orchestration.sync.timing import quiet_reasons
from tests.sync.conftest import Paths
from tests.sync.fakes import WebhookFake
from tests.sync.helpers import WEBHOOK_SECRET, FakeClock, query, state_rows, write_warehouse

ENV = {"HOOK_SECRET": WEBHOOK_SECRET}
NOWHERE = "http://127.0.0.1:9"  # for configs that are only validated
QUIET = {"start": "21:00", "end": "08:00", "timezone_column": "tz", "default_timezone": "Europe/London"}
# 21:30 UTC in January: 22:30 in Warsaw and 21:30 in London (quiet), 16:30 in New York (not).
EVENING = datetime(2026, 1, 15, 21, 30, tzinfo=UTC)
# 08:30 UTC the next morning: 09:30 in Warsaw, 08:30 in London (open), 03:30 in New York (quiet).
MORNING = datetime(2026, 1, 16, 8, 30, tzinfo=UTC)


def recipients() -> list[dict[str, Any]]:
    zones = {"c0": "Europe/Warsaw", "c1": "America/New_York", "c2": "Mars/Olympus_Mons", "c3": None}
    return [
        {
            "customer_id": key,
            "email": f"{key}@example.com",
            "first_name": f"Name {key}",
            "tz": zone,
            "has_consent_email_marketing": True,
        }
        for key, zone in zones.items()
    ]


def sync_dict(webhook: WebhookFake | str, name: str, model: str = "audience", **extra: Any) -> dict[str, Any]:
    url = webhook if isinstance(webhook, str) else webhook.url
    return {
        "name": name,
        "source": {"model": model, "primary_key": "customer_id"},
        "destination": {"type": "webhook", "url": f"{url}/hook", "secret_env": "HOOK_SECRET"},
        "mode": "mirror",
        "mapping": {"email": "email", "first_name": "first_name"},
        "schedule": "0 * * * *",
        "consent_purpose": "email_marketing",
        "limits": {"max_remove_share": 1, "hold_remove_share": 1},
        **extra,
    }


def run(config: SyncConfig, paths: Paths, at: datetime):  # type: ignore[no-untyped-def]
    result = run_sync(config, paths.warehouse, paths.state, env=ENV, clock=FakeClock(), now=lambda: at)
    assert result.status == "success", result.error
    return result


def record_log(paths: Paths, status: str, sync_name: str = "quiet") -> dict[str, str]:
    rows = query(
        paths.state,
        "select key, error from sync_record_log where sync_name = ? and status = ? order by run_id, key",
        [sync_name, status],
    )
    return dict(rows)


# quiet hours


def test_quiet_hours_defer_and_a_later_run_sends(paths: Paths, webhook: WebhookFake) -> None:
    write_warehouse(paths.warehouse, recipients())
    config = parse_syncs({"syncs": [sync_dict(webhook, "quiet", timing={"quiet_hours": QUIET})]})[0]

    first = run(config, paths, EVENING)
    assert set(webhook.store) == {"c1"}, "only New York (16:30) is outside quiet hours"
    assert (first.adds, first.deferred, first.timezone_unknown) == (1, 3, 1)
    assert set(state_rows(paths.state, "quiet")) == {"c1"}, "a deferred member is never marked sent"
    deferred = record_log(paths, "deferred")
    assert (
        deferred
        == {
            "c0": "quiet hours (local 22:30, the recipient's time zone)",
            "c2": "quiet hours (local 21:30, default zone Europe/London)",  # unknown zone: the default, and counted
            "c3": "quiet hours (local 21:30, default zone Europe/London)",  # no zone: the default
        }
    )
    assert all("example.com" not in reason for reason in deferred.values())
    counted = query(
        paths.state, "select deferred, timezone_unknown from sync_runs where run_id = ?", [first.run_id]
    )
    assert counted == [(3, 1)]

    # Still night: still pending, nothing lost, nothing sent; counted again, but logged once.
    again = run(config, paths, EVENING + timedelta(minutes=15))
    assert (again.adds, again.deferred, again.sent) == (0, 3, 0)
    assert set(webhook.store) == {"c1"}
    logged = "select count(*) from sync_record_log where sync_name = 'quiet' and status = 'deferred'"
    assert query(paths.state, logged) == [(3,)]
    waiting = query(paths.state, "select key, status from sync_waiting order by key")
    assert waiting == [("c0", "deferred"), ("c2", "deferred"), ("c3", "deferred")]

    morning = run(config, paths, MORNING)
    assert (morning.adds, morning.deferred) == (3, 0)
    assert set(webhook.store) == {"c0", "c1", "c2", "c3"}
    assert set(state_rows(paths.state, "quiet")) == {"c0", "c1", "c2", "c3"}
    assert query(paths.state, "select count(*) from sync_waiting") == [(0,)]

    # A new wait is a new record-log row.
    changed = recipients()
    changed[0]["first_name"] = "Changed"
    write_warehouse(paths.warehouse, changed)
    assert run(config, paths, EVENING + timedelta(days=1)).deferred == 1
    assert query(paths.state, logged) == [(4,)]


def test_removals_ignore_quiet_hours_and_changes_wait(paths: Paths, webhook: WebhookFake) -> None:
    write_warehouse(paths.warehouse, recipients())
    config = parse_syncs({"syncs": [sync_dict(webhook, "quiet", timing={"quiet_hours": QUIET})]})[0]
    run(config, paths, MORNING - timedelta(hours=2))  # 06:30 UTC: 07:30 Warsaw, quiet; c1 01:30, quiet
    run(config, paths, datetime(2026, 1, 16, 14, 0, tzinfo=UTC))  # afternoon everywhere: all sent
    assert set(webhook.store) == {"c0", "c1", "c2", "c3"}

    rows = [row for row in recipients() if row["customer_id"] != "c2"]  # c2 leaves the audience
    rows[0]["has_consent_email_marketing"] = False  # c0 (Warsaw, 22:30) withdraws consent
    rows[-1]["first_name"] = "Changed"  # c3 changes
    write_warehouse(paths.warehouse, rows)
    night = run(config, paths, EVENING)
    assert night.removes == 2 and set(webhook.store) == {"c1", "c3"}, "removals never wait for quiet hours"
    assert (night.changes, night.deferred) == (0, 1)
    assert webhook.store["c3"]["first_name"] == "Name c3", "the change waits for the morning"
    run(config, paths, MORNING)
    assert webhook.store["c3"]["first_name"] == "Changed"


def test_quiet_hours_window_and_zones() -> None:
    config = parse_syncs({"syncs": [sync_dict(NOWHERE, "quiet", timing={"quiet_hours": QUIET})]})[0]
    quiet = config.timing.quiet_hours
    assert quiet is not None
    assert quiet.contains(time(21, 0)) and quiet.contains(time(3, 0)) and quiet.contains(time(7, 59))
    assert not quiet.contains(time(8, 0)) and not quiet.contains(time(20, 59))
    reasons, unknown = quiet_reasons(quiet, ["Asia/Tokyo", "Nowhere/City", "Europe", None], EVENING)
    # 21:30 UTC is 06:30 in Tokyo (quiet) and 21:30 in London, the default.
    assert reasons == {
        "Asia/Tokyo": "quiet hours (local 06:30, the recipient's time zone)",
        "Nowhere/City": "quiet hours (local 21:30, default zone Europe/London)",
        "Europe": "quiet hours (local 21:30, default zone Europe/London)",  # a folder of zones, not a zone
        None: "quiet hours (local 21:30, default zone Europe/London)",
    }
    assert unknown == {"Nowhere/City", "Europe"}
    # Summer time: 20:30 UTC in July is 21:30 in London (quiet), 22:30 in Warsaw.
    summer, _ = quiet_reasons(quiet, [None], datetime(2026, 7, 1, 20, 30, tzinfo=UTC))
    assert summer == {None: "quiet hours (local 21:30, default zone Europe/London)"}


def test_missing_timezone_column_is_a_config_error(paths: Paths, webhook: WebhookFake) -> None:
    rows = [{k: v for k, v in row.items() if k != "tz"} for row in recipients()]
    write_warehouse(paths.warehouse, rows)
    config = parse_syncs({"syncs": [sync_dict(webhook, "quiet", timing={"quiet_hours": QUIET})]})[0]
    with pytest.raises(SyncConfigError, match="column tz is not in audience"):
        run_sync(config, paths.warehouse, paths.state, env=ENV, clock=FakeClock(), now=lambda: EVENING)


# frequency caps


def test_caps_count_adds_across_syncs_per_channel(paths: Paths, webhook: WebhookFake) -> None:
    write_warehouse(paths.warehouse, recipients(), table="welcome")
    write_warehouse(paths.warehouse, recipients(), table="winback")
    write_warehouse(paths.warehouse, recipients(), table="reminder")
    syncs = parse_syncs(
        {
            "frequency_caps": [{"channel": "email", "max": 2, "per": "7d"}],
            "syncs": [
                sync_dict(webhook, "welcome", "welcome", channel="email"),
                sync_dict(webhook, "winback", "winback", channel="email"),
                sync_dict(webhook, "reminder", "reminder", channel="email"),
                sync_dict(webhook, "reminder_sms", "reminder", channel="sms"),
            ],
        }
    )
    welcome, winback, reminder, reminder_sms = syncs
    assert run(welcome, paths, EVENING).adds == 4
    # Neither a removal nor a change is a send: c3 leaves the welcome audience, c0's name changes.
    changed = recipients()[:3]
    changed[0]["first_name"] = "Changed"
    write_warehouse(paths.warehouse, changed, table="welcome")
    again = run(welcome, paths, EVENING)
    assert (again.removes, again.changes) == (1, 1)
    assert run(winback, paths, EVENING).adds == 4
    third = run(reminder, paths, EVENING)
    assert (third.adds, third.capped, third.sent) == (0, 4, 0)
    assert record_log(paths, "capped", "reminder") == {
        key: "frequency cap email 2 per 7d (2 sent)" for key in ("c0", "c1", "c2", "c3")
    }
    assert state_rows(paths.state, "reminder") == {}, "a capped member stays pending"
    assert query(paths.state, "select capped from sync_runs where run_id = ?", [third.run_id]) == [(4,)]
    # Another channel has its own count.
    assert run(reminder_sms, paths, EVENING).adds == 4
    # A week later the window has moved on: the capped members go out.
    later = run(reminder, paths, EVENING + timedelta(days=8))
    assert (later.adds, later.capped) == (4, 0)
    sends = query(
        paths.state, "select channel, sync_name, count(*) from sync_sends group by 1, 2 order by 1, 2"
    )
    assert sends == [
        ("email", "reminder", 4),
        ("email", "welcome", 4),
        ("email", "winback", 4),
        ("sms", "reminder_sms", 4),
    ]


def test_deferred_and_held_out_records_do_not_count_toward_caps(paths: Paths, webhook: WebhookFake) -> None:
    rows = recipients()
    for row in rows:
        row["is_holdout"] = row["customer_id"] == "c1"
    write_warehouse(paths.warehouse, rows)
    first, second = parse_syncs(
        {
            "frequency_caps": [{"channel": "email", "max": 1, "per": "1d"}],
            "syncs": [
                sync_dict(webhook, "quiet", channel="email", timing={"quiet_hours": QUIET}),
                sync_dict(webhook, "other", channel="email"),
            ],
        }
    )
    result = run(first, paths, EVENING)
    assert (result.adds, result.deferred, result.holdout_excluded) == (0, 3, 1)
    assert run(second, paths, EVENING).adds == 3, "deferred and held-out members were not sends"
    assert run(first, paths, MORNING).capped == 3


def test_the_dry_run_counts_deferred_and_capped_apart_and_writes_nothing(
    paths: Paths, webhook: WebhookFake
) -> None:
    from orchestration.sync.engine import preview_sync
    from tests.sync.helpers import state_snapshot

    write_warehouse(paths.warehouse, recipients())
    quiet, capped = parse_syncs(
        {
            "frequency_caps": [{"channel": "email", "max": 1, "per": "7d"}],
            "syncs": [
                sync_dict(webhook, "quiet", channel="email", timing={"quiet_hours": QUIET}),
                sync_dict(webhook, "capped", channel="email"),
            ],
        }
    )
    # Before anything ran: quiet hours would defer three (Warsaw, and two on the default zone).
    report = preview_sync(quiet, paths.warehouse, paths.state, now=EVENING)
    assert (report.adds, report.deferred, report.capped, report.timezone_unknown) == (1, 3, 0, 1)
    assert report.counts()["deferred"] == 3 and [s["key"] for s in report.samples["deferred"]] == [
        "c0",
        "c2",
        "c3",
    ]
    dry = run_sync(quiet, paths.warehouse, paths.state, dry_run=True, now=lambda: EVENING)
    assert (dry.status, dry.adds, dry.deferred) == ("dry_run", 1, 3)

    run(quiet, paths, EVENING)
    run(quiet, paths, MORNING)  # all four sent by the morning: one email each this week
    before = state_snapshot(paths.state)
    report = preview_sync(capped, paths.warehouse, paths.state, now=MORNING)
    assert (report.adds, report.capped, report.deferred) == (0, 4, 0)
    assert report.samples["capped"][0] == {"key": "c0", "reason": "frequency cap email 1 per 7d (1 sent)"}
    assert state_snapshot(paths.state) == before, "the dry run wrote state, sync_sends or sync_waiting"
    assert query(paths.state, "select count(*) from sync_waiting") == [(0,)]
    # The run agrees with its dry run.
    assert run(capped, paths, MORNING).capped == 4


@pytest.mark.postgres
def test_two_syncs_at_once_do_not_both_pass_the_cap(
    paths: Paths, webhook: WebhookFake, monkeypatch: pytest.MonkeyPatch
) -> None:
    if paths.store != "postgres":
        pytest.skip("threads in one process share a DuckDB file; its lock is between processes")
    monkeypatch.setattr(PostgresStore, "LOCK_WAIT_SECONDS", 120.0)  # the second run waits its turn
    write_warehouse(paths.warehouse, recipients(), table="welcome")
    write_warehouse(paths.warehouse, recipients(), table="winback")
    syncs = parse_syncs(
        {
            "frequency_caps": [{"channel": "email", "max": 1, "per": "7d"}],
            "syncs": [
                sync_dict(webhook, "welcome", "welcome", channel="email"),
                sync_dict(webhook, "winback", "winback", channel="email"),
            ],
        }
    )
    barrier = threading.Barrier(2)
    results: list[Any] = []

    def go(config: SyncConfig) -> None:
        barrier.wait()
        results.append(run(config, paths, EVENING))

    threads = [threading.Thread(target=go, args=(config,)) for config in syncs]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=180)
    assert len(results) == 2
    assert sorted((r.adds, r.capped) for r in results) == [(0, 4), (4, 0)]
    per_key = query(paths.state, "select key, count(*) from sync_sends group by key order by key")
    assert per_key == [(key, 1) for key in ("c0", "c1", "c2", "c3")]


# configuration


def _error(sync_extra: dict[str, Any], **top: Any) -> str:
    with pytest.raises(SyncConfigError) as caught:
        parse_syncs({"syncs": [sync_dict(NOWHERE, "quiet", **sync_extra)], **top}, file="syncs.yml")
    message = str(caught.value)
    assert "\n" not in message
    return message


@pytest.mark.parametrize(
    ("extra", "top", "expected"),
    [
        (
            {"timing": {"on": "later"}},
            {},
            "syncs.yml: syncs[0].timing.on: Input should be 'entry' or 'schedule'",
        ),
        (
            {"timing": {"quiet_hours": {"start": "25:00", "end": "08:00"}}},
            {},
            "syncs.yml: syncs[0].timing.quiet_hours.start: must be a 24-hour time 'HH:MM'",
        ),
        (
            {"timing": {"quiet_hours": {"start": "21:00", "end": "08:00", "default_timezone": "Europe"}}},
            {},
            "syncs.yml: syncs[0].timing.quiet_hours.default_timezone: is not an IANA time zone",
        ),
        (
            {"timing": {"quiet_hours": {"start": "21:00", "end": "21:00"}}},
            {},
            "syncs.yml: syncs[0].timing.quiet_hours: start and end are the same time",
        ),
        (
            {"timing": {"quiet_hours": {"start": "21:00", "end": "08:00", "timezone": "x"}}},
            {},
            "syncs.yml: syncs[0].timing.quiet_hours.timezone: unknown key",
        ),
        (
            {"channel": "email"},
            {"frequency_caps": [{"channel": "email", "max": 2, "per": "7 days"}]},
            "syncs.yml: frequency_caps[0].per: must be a window like '30m', '24h', '7d' or '2w'",
        ),
        (
            {"channel": "email"},
            {"frequency_caps": [{"channel": "email", "max": 0, "per": "7d"}]},
            "syncs.yml: frequency_caps[0].max: Input should be greater than 0",
        ),
        (
            {},
            {"frequency_caps": [{"channel": "email", "max": 2, "per": "7d"}]},
            "syncs.yml: syncs[0].channel: the file has frequency_caps, so this sync must declare its channel",
        ),
        (
            {"channel": "email", "source": {"model": "contacts", "primary_key": "email"}},
            {"frequency_caps": [{"channel": "email", "max": 2, "per": "7d"}]},
            "syncs.yml: syncs[0].source.primary_key: channel email has a frequency cap, which counts sends "
            "per customer_id",
        ),
    ],
)
def test_config_errors_are_one_line(extra: dict[str, Any], top: dict[str, Any], expected: str) -> None:
    assert _error(extra, **top).startswith(expected)


def test_config_defaults_and_channels() -> None:
    hook = NOWHERE
    plain = sync_dict(hook, "plain")
    entry = {
        k: v
        for k, v in sync_dict(hook, "entry", channel="email", timing={"on": "entry"}).items()
        if k != "schedule"
    }
    none = sync_dict(hook, "no_messages", channel=None)
    klaviyo = {
        **sync_dict(hook, "klaviyo_list"),
        "destination": {"type": "klaviyo", "api_key_env": "KLAVIYO_KEY"},
        "mode": "upsert",
        "mapping": {"email": "email"},
    }
    caps = [{"channel": "email", "max": 2, "per": "7d"}, {"channel": "email", "max": 1, "per": "24h"}]
    parsed = parse_syncs({"syncs": [plain, klaviyo]})
    assert parsed[0].timing.on == "schedule" and parsed[0].timing.quiet_hours is None
    assert parsed[0].schedule == "0 * * * *" and parsed[0].frequency_caps == ()
    assert parsed[1].channel_name == "email"  # from the destination type
    with_caps = parse_syncs(
        {"syncs": [{**plain, "channel": "push"}, entry, none, klaviyo], "frequency_caps": caps}
    )
    assert with_caps[1].schedule == ENTRY_SCHEDULE and with_caps[1].timing.on == "entry"
    assert with_caps[0].frequency_caps == ()  # no cap on push
    assert with_caps[2].channel_name is None and with_caps[2].frequency_caps == ()
    assert [c.describe() for c in with_caps[3].frequency_caps] == ["email 2 per 7d", "email 1 per 24h"]
    with pytest.raises(SyncConfigError, match=r"syncs\[0\]\.schedule: Field required"):
        parse_syncs({"syncs": [{k: v for k, v in plain.items() if k != "schedule"}]})


def test_entry_sync_gets_a_short_interval_schedule() -> None:
    from orchestration.sync.schedules import sync_schedules

    hook = NOWHERE
    entry = {k: v for k, v in sync_dict(hook, "entry", timing={"on": "entry"}).items() if k != "schedule"}
    schedule = sync_schedules(parse_syncs({"syncs": [entry]}))[0]
    assert schedule.cron_schedule == ENTRY_SCHEDULE


def test_erasure_removes_a_persons_sends(paths: Paths, webhook: WebhookFake) -> None:
    from orchestration.sync.stores import duckdb_location, open_store

    write_warehouse(paths.warehouse, recipients())
    config, capped = parse_syncs(
        {
            "frequency_caps": [{"channel": "email", "max": 1, "per": "7d"}],
            "syncs": [
                sync_dict(webhook, "welcome", channel="email"),
                sync_dict(webhook, "capped", channel="email"),
            ],
        }
    )
    run(config, paths, EVENING)
    assert run(capped, paths, EVENING).capped == 4
    store = open_store(duckdb_location(paths.warehouse, paths.state))
    try:
        counts = store.forget(["c0"], lambda columns: None, [], lambda sync_name, rows: None)
    finally:
        store.close()
    assert counts["sync_sends"] == 1 and counts["sync_waiting"] == 1
    assert query(paths.state, "select key from sync_waiting order by key") == [("c1",), ("c2",), ("c3",)]
    keys = query(paths.state, "select key from sync_sends order by key")
    assert keys == [("c1",), ("c2",), ("c3",)]


def test_sync_sends_are_pruned_past_the_longest_cap_window(paths: Paths, webhook: WebhookFake) -> None:
    from orchestration.sync.engine import SENDS_KEEP_MARGIN

    write_warehouse(paths.warehouse, recipients())
    welcome, other, sms = parse_syncs(
        {
            "frequency_caps": [
                {"channel": "email", "max": 1, "per": "24h"},
                {"channel": "email", "max": 3, "per": "2w"},  # the longest email window
            ],
            "syncs": [
                sync_dict(webhook, "welcome", channel="email"),
                sync_dict(webhook, "other", channel="email"),
                sync_dict(webhook, "texts", channel="sms"),
            ],
        }
    )
    run(welcome, paths, EVENING)
    run(sms, paths, EVENING)
    count = "select channel, count(*) from sync_sends group by 1 order by 1"
    assert query(paths.state, count) == [("email", 4), ("sms", 4)]
    # Within the longest window plus the margin: kept, and still counted.
    inside = EVENING + timedelta(weeks=2) + SENDS_KEEP_MARGIN - timedelta(hours=1)
    run(other, paths, inside)
    assert query(paths.state, count) == [("email", 8), ("sms", 4)]
    # Past it: a run on the channel drops them (the sms sends are another channel's, not touched).
    run(other, paths, EVENING + timedelta(weeks=2) + SENDS_KEEP_MARGIN + timedelta(hours=1))
    assert query(paths.state, count) == [("email", 4), ("sms", 4)]
    # An uncapped channel keeps its sends for the margin only.
    run(sms, paths, EVENING + SENDS_KEEP_MARGIN + timedelta(hours=1))
    assert query(paths.state, count) == [("email", 4)]


def test_the_access_export_holds_a_persons_sends_and_waiting_records(
    paths: Paths, webhook: WebhookFake, monkeypatch: pytest.MonkeyPatch
) -> None:
    """tessera privacy export reads sync_sends and sync_waiting by the person's customer ids, as it
    reads the record log (orchestration/privacy/export.py); erasure deletes the same rows."""
    import orchestration.sync.project
    from orchestration.privacy.export import _sync_tables
    from orchestration.settings import Settings
    from orchestration.sync.stores import duckdb_location

    write_warehouse(paths.warehouse, recipients())
    welcome, capped = parse_syncs(
        {
            "frequency_caps": [{"channel": "email", "max": 1, "per": "7d"}],
            "syncs": [
                sync_dict(webhook, "welcome", channel="email"),
                sync_dict(webhook, "capped", channel="email"),
            ],
        }
    )
    run(welcome, paths, EVENING)
    run(capped, paths, EVENING)
    location = duckdb_location(paths.warehouse, paths.state)
    monkeypatch.setattr(orchestration.sync.project, "sync_location", lambda settings: location)
    found = _sync_tables(Settings.from_env(), ["c0", "c9"])
    assert [(r["channel"], r["key"], r["sync_name"]) for r in found["sync_sends"]] == [
        ("email", "c0", "welcome")
    ]
    assert [(r["sync_name"], r["key"], r["status"], r["reason"]) for r in found["sync_waiting"]] == [
        ("capped", "c0", "capped", "frequency cap email 1 per 7d (1 sent)")
    ]
    assert {(r["sync_name"], r["status"]) for r in found["sync_log"]} == {
        ("welcome", "succeeded"),
        ("capped", "capped"),
    }
    assert all(r["key"] == "c0" for rows in found.values() for r in rows)
    assert _sync_tables(Settings.from_env(), []) == {"sync_log": [], "sync_sends": [], "sync_waiting": []}


def test_yaml_on_key_and_the_shipped_demo(tmp_path) -> None:  # type: ignore[no-untyped-def]
    """PyYAML reads `on:` as true; `timing: {on: entry}` still means on: entry. The demo file loads."""
    from orchestration.settings import PROJECT_DIR
    from orchestration.sync.config import load_syncs

    path = tmp_path / "syncs.yml"
    path.write_text(
        "frequency_caps: [{channel: email, max: 2, per: 7d}]\n"
        "syncs:\n"
        "  - name: entry\n"
        "    source: {model: audience, primary_key: customer_id}\n"
        "    destination: {type: files, directory: out, format: csv}\n"
        "    mode: mirror\n"
        "    mapping: {email: email}\n"
        "    consent_purpose: email_marketing\n"
        "    channel: email\n"
        "    timing:\n"
        "      on: entry\n"
        '      quiet_hours: {start: "21:00", end: "08:00", default_timezone: Europe/Warsaw}\n'
    )
    (config,) = load_syncs(path)
    assert config.timing.on == "entry" and config.schedule == ENTRY_SCHEDULE
    demo = {c.name: c for c in load_syncs(PROJECT_DIR / "syncs" / "syncs.yml")}
    cart = demo["cart_abandoners_email"]
    assert cart.timing.on == "entry" and cart.timing.quiet_hours is not None
    assert [cap.describe() for cap in cart.frequency_caps] == ["email 2 per 7d"]


def test_dropping_quiet_hours_sends_and_clears_what_waited(paths: Paths, webhook: WebhookFake) -> None:
    write_warehouse(paths.warehouse, recipients())
    quiet = parse_syncs({"syncs": [sync_dict(webhook, "quiet", timing={"quiet_hours": QUIET})]})[0]
    assert run(quiet, paths, EVENING).deferred == 3
    plain = parse_syncs({"syncs": [sync_dict(webhook, "quiet")]})[0]
    assert run(plain, paths, EVENING).adds == 3
    assert query(paths.state, "select count(*) from sync_waiting") == [(0,)]
