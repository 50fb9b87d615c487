"""Audience syncs: a sync reads one audience's (or priority list's) members, and no control-group or
global-holdout member ever reaches a destination, in any mode. Each runs on DuckDB and on Postgres."""

from __future__ import annotations

import textwrap
from pathlib import Path
from typing import Any

import pytest

from orchestration.sync.config import (
    AUDIENCE_MODEL,
    PRIORITY_LIST_MODEL,
    DeclaredAudiences,
    SyncConfig,
    load_syncs,
    parse_syncs,
)
from orchestration.sync.engine import preview_sync, run_sync
from orchestration.sync.errors import SyncConfigError
from tests.sync.conftest import Paths
from tests.sync.fakes import WebhookFake
from tests.sync.helpers import WEBHOOK_SECRET, FakeClock, query, write_warehouse

ENV = {"HOOK_SECRET": WEBHOOK_SECRET}
DECLARED = DeclaredAudiences(frozenset({"cart", "churners"}), frozenset({"offers"}))
# cart: 12 members. c001 and c005 are in its control group, c003 in the global holdout, c007 in both
# (the global holdout is the reason given), c009 has no consent. churners: c001 is a member there too,
# not held out, so a holdout is per audience.
HOLDOUT = {"c001", "c005"}
GLOBAL = {"c003", "c007"}
HELD = HOLDOUT | GLOBAL
SENDABLE = {f"c{i:03d}" for i in range(12)} - HELD - {"c009"}


def members(flags: dict[str, tuple[bool, bool]] | None = None) -> list[dict[str, Any]]:
    flags = flags or {}
    rows = []
    for i in range(12):
        key = f"c{i:03d}"
        holdout, global_holdout = flags.get(key, (key in HOLDOUT or key == "c007", key in GLOBAL))
        rows.append(_row("cart", key, holdout, global_holdout, consent=key != "c009"))
    rows.append(_row("churners", "c001", False, False))
    rows.append(_row("churners", "c100", False, False))
    return rows


def _row(
    audience: str, key: str, holdout: bool, global_holdout: bool, *, consent: bool = True
) -> dict[str, Any]:
    return {
        "audience_name": audience,
        "customer_id": key,
        "is_holdout": holdout,
        "is_global_holdout": global_holdout,
        "email": f"{key}@example.com",
        "first_name": f"Name {key}",
        "has_consent_email_marketing": consent,
    }


def audience_sync(webhook: WebhookFake, *, mode: str, source: dict[str, str] | None = None) -> SyncConfig:
    sync = {
        "name": "cart_email",
        "source": source or {"audience": "cart"},
        "destination": {"type": "webhook", "url": f"{webhook.url}/hook", "secret_env": "HOOK_SECRET"},
        "mode": mode,
        "mapping": {"email": "email", "first_name": "first_name"},
        "schedule": "0 * * * *",
        "consent_purpose": "email_marketing",
        "limits": {"max_remove_share": 1},
    }
    return parse_syncs({"syncs": [sync]}, audiences=DECLARED)[0]


def run(config: SyncConfig, paths: Paths):  # type: ignore[no-untyped-def]
    result = run_sync(config, paths.warehouse, paths.state, env=ENV, clock=FakeClock())
    assert result.status == "success", result.error
    return result


def sent_keys(webhook: WebhookFake) -> set[str]:
    """Every key the destination was ever asked to add or update."""
    return {
        key
        for delivery in webhook.deliveries
        if delivery["operation"] not in ("delete", "remove")
        for key in delivery["keys"]
    }


def held_out_log(paths: Paths, sync_name: str = "cart_email") -> list[tuple[str, str, str]]:
    return sorted(
        query(
            paths.state,
            "select run_id, key, error from sync_record_log "
            "where sync_name = ? and status = 'held_out' order by run_id, key",
            [sync_name],
        )
    )


@pytest.mark.parametrize("mode", ["upsert", "mirror", "insert", "audience"])
def test_no_control_or_global_holdout_member_reaches_the_destination(
    mode: str, paths: Paths, webhook: WebhookFake
) -> None:
    write_warehouse(paths.warehouse, members(), table=AUDIENCE_MODEL)
    config = audience_sync(webhook, mode=mode)
    first = run(config, paths)
    assert sent_keys(webhook) & HELD == set(), "a held-out member was sent"
    assert sent_keys(webhook) == SENDABLE == set(webhook.store)
    assert (first.source_rows, first.holdout_excluded, first.global_holdout_excluded) == (12, 2, 2)
    assert first.consent_excluded == 1  # c009; held-out members count as held out, not as unconsented

    # Their data changes: still nothing of them goes out.
    changed = members()
    for row in changed:
        row["first_name"] += " (new)"
    write_warehouse(paths.warehouse, changed, table=AUDIENCE_MODEL)
    run(config, paths)
    assert sent_keys(webhook) & HELD == set(), "a held-out member was sent"


def test_the_dry_run_counts_and_shows_held_out_members(paths: Paths, webhook: WebhookFake) -> None:
    write_warehouse(paths.warehouse, members(), table=AUDIENCE_MODEL)
    report = preview_sync(audience_sync(webhook, mode="mirror"), paths.warehouse, paths.state)
    assert (report.adds, report.holdout_excluded, report.global_holdout_excluded) == (7, 2, 2)
    assert {row["key"]: row["reason"] for row in report.samples["held_out"]} == {
        "c001": "holdout",
        "c003": "global_holdout",
        "c005": "holdout",
        "c007": "global_holdout",
    }
    assert webhook.request_count() == 0


def test_the_record_log_says_why_each_member_was_held_out_once(paths: Paths, webhook: WebhookFake) -> None:
    write_warehouse(paths.warehouse, members(), table=AUDIENCE_MODEL)
    config = audience_sync(webhook, mode="mirror")
    first = run(config, paths)
    logged = {key: reason for _, key, reason in held_out_log(paths)}
    assert logged == {
        "c001": "holdout",
        "c003": "global_holdout",
        "c005": "holdout",
        "c007": "global_holdout",
    }
    runs = query(
        paths.state,
        "select holdout_excluded, global_holdout_excluded from sync_runs where run_id = ?",
        [first.run_id],
    )
    assert runs == [(2, 2)]

    # An unchanged rerun does not log them again: a member is logged when it enters the holdout.
    run(config, paths)
    assert len(held_out_log(paths)) == 4


def test_a_member_moved_into_the_holdout_after_a_send_is_removed_by_a_mirror_sync(
    paths: Paths, webhook: WebhookFake
) -> None:
    write_warehouse(paths.warehouse, members(), table=AUDIENCE_MODEL)
    config = audience_sync(webhook, mode="mirror")
    run(config, paths)
    assert "c000" in webhook.store

    write_warehouse(paths.warehouse, members({"c000": (True, False)}), table=AUDIENCE_MODEL)
    moved = run(config, paths)
    assert (moved.removes, moved.holdout_excluded) == (1, 3)
    assert "c000" not in webhook.store
    assert any(d["operation"] == "delete" and d["keys"] == ["c000"] for d in webhook.deliveries)
    log = query(
        paths.state,
        "select operation, status, error from sync_record_log where run_id = ? and key = 'c000' order by 1",
        [moved.run_id],
    )
    assert log == [("delete", "succeeded", None), ("none", "held_out", "holdout")]

    # Removed and remembered as held out: the next run neither resends, removes nor logs it again.
    again = run(config, paths)
    assert (again.adds, again.removes, again.requests) == (0, 0, 0)
    assert [key for _, key, _ in held_out_log(paths)].count("c000") == 1


def test_an_upsert_sync_never_updates_a_member_moved_into_the_global_holdout(
    paths: Paths, webhook: WebhookFake
) -> None:
    write_warehouse(paths.warehouse, members(), table=AUDIENCE_MODEL)
    config = audience_sync(webhook, mode="upsert")
    run(config, paths)
    rows = members({"c000": (False, True)})
    rows[0]["first_name"] = "Changed"
    write_warehouse(paths.warehouse, rows, table=AUDIENCE_MODEL)
    moved = run(config, paths)
    assert (moved.changes, moved.global_holdout_excluded, moved.requests) == (0, 3, 0)
    assert webhook.accepted["c000"] == 1  # the first send only
    assert ("c000", "global_holdout") in {(key, reason) for _, key, reason in held_out_log(paths)}

    # Out of the holdout again (the holdout percent changed): sent as any changed member.
    write_warehouse(
        paths.warehouse, [{**rows[0], "is_global_holdout": False}, *rows[1:]], table=AUDIENCE_MODEL
    )
    back = run(config, paths)
    assert back.changes == 1 and webhook.store["c000"]["first_name"] == "Changed"


def test_a_priority_list_sync_reads_its_list_and_honours_the_holdouts(
    paths: Paths, webhook: WebhookFake
) -> None:
    rows = [
        {**_row("cart", key, key in HOLDOUT, key in GLOBAL), "priority_list_name": "offers"}
        for key in ("c000", "c001", "c002", "c003")
    ]
    rows.append({**_row("cart", "c050", False, False), "priority_list_name": "other_list"})
    write_warehouse(paths.warehouse, rows, table=PRIORITY_LIST_MODEL)
    config = audience_sync(webhook, mode="mirror", source={"priority_list": "offers"})
    assert config.source.model == PRIORITY_LIST_MODEL
    result = run(config, paths)
    assert set(webhook.store) == sent_keys(webhook) == {"c000", "c002"}
    assert (result.source_rows, result.holdout_excluded, result.global_holdout_excluded) == (4, 1, 1)


def test_holdout_flags_are_honoured_in_any_model_a_sync_reads(paths: Paths, webhook: WebhookFake) -> None:
    write_warehouse(
        paths.warehouse, [r for r in members() if r["audience_name"] == "cart"], table="my_audience"
    )
    config = audience_sync(
        webhook, mode="upsert", source={"model": "my_audience", "primary_key": "customer_id"}
    )
    run(config, paths)
    assert sent_keys(webhook) == SENDABLE


def test_a_source_without_the_audience_column_fails_clearly(paths: Paths, webhook: WebhookFake) -> None:
    write_warehouse(
        paths.warehouse,
        [{"customer_id": "c1", "email": "a@example.com", "first_name": "A"}],
        table=AUDIENCE_MODEL,
    )
    config = audience_sync(webhook, mode="upsert")
    with pytest.raises(SyncConfigError, match="column audience_name is not in sync_audience__members"):
        run_sync(config, paths.warehouse, paths.state, env=ENV, clock=FakeClock())
    assert webhook.request_count() == 0


# configuration


def _audiences_dir(tmp_path: Path) -> Path:
    folder = tmp_path / "audiences"
    folder.mkdir()
    (folder / "_audiences.yml").write_text("priority_lists:\n  offers: [cart]\n")
    (folder / "cart.yml").write_text("name: cart\nholdout_percent: 10\n")
    return folder


def _syncs_file(tmp_path: Path, source: str) -> Path:
    path = tmp_path / "syncs.yml"
    path.write_text(
        textwrap.dedent(
            f"""
            syncs:
              - name: cart_export
                source: {source}
                destination: {{type: files, directory: /tmp/out, format: csv}}
                mode: mirror
                mapping: {{email: email}}
                schedule: "0 * * * *"
                consent_purpose: email_marketing
            """
        )
    )
    return path


def test_an_audience_source_reads_the_activation_model_keyed_by_customer(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TESSERA_AUDIENCES_DIR", str(_audiences_dir(tmp_path)))
    (config,) = load_syncs(_syncs_file(tmp_path, "{audience: cart}"))
    assert (config.source.model, config.source.primary_key) == (AUDIENCE_MODEL, "customer_id")
    assert config.source.row_filter == ("audience_name", "cart")
    (listed,) = load_syncs(_syncs_file(tmp_path, "{priority_list: offers}"))
    assert listed.source.row_filter == ("priority_list_name", "offers")


@pytest.mark.parametrize(
    ("source", "message"),
    [
        ("{audience: cart_abandoners_7dd}", "unknown audience 'cart_abandoners_7dd': no audiences/"),
        ("{priority_list: nope}", "unknown priority list 'nope'"),
        ("{audience: cart, priority_list: offers}", "give audience or priority_list, not both"),
    ],
)
def test_an_unknown_audience_is_a_one_line_error_naming_file_and_key(
    source: str, message: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TESSERA_AUDIENCES_DIR", str(_audiences_dir(tmp_path)))
    path = _syncs_file(tmp_path, source)
    with pytest.raises(SyncConfigError) as caught:
        load_syncs(path)
    text = str(caught.value)
    assert text.startswith(f"{path}: syncs[0].source") and message in text and "\n" not in text


def test_the_project_syncs_read_declared_audiences() -> None:
    """syncs/syncs.yml ships audience syncs, checked against the project's own audiences/."""
    from orchestration.settings import PROJECT_DIR

    configs = load_syncs(PROJECT_DIR / "syncs" / "syncs.yml")
    audiences = {c.source.audience for c in configs if c.source.audience}
    assert {
        "cart_abandoners_7d",
        "last_season_matchgoers_near_store",
        "likely_churners_open_tickets",
    } <= audiences


def test_a_member_that_leaves_the_holdout_unchanged_is_logged_again_when_it_reenters(
    paths: Paths, webhook: WebhookFake
) -> None:
    """An upsert sync leaves a held-out record at the destination; when the member leaves the holdout
    with the same data nothing is sent, and state is `synced` again, so a later entry is logged again."""
    write_warehouse(paths.warehouse, members(), table=AUDIENCE_MODEL)
    config = audience_sync(webhook, mode="upsert")
    run(config, paths)
    held = members({"c000": (False, True)})
    released = members({"c000": (False, False)})
    for rows in (held, released, held):
        write_warehouse(paths.warehouse, rows, table=AUDIENCE_MODEL)
        result = run(config, paths)
        assert result.requests == 0
    entries = [run_id for run_id, key, reason in held_out_log(paths) if key == "c000"]
    assert len(entries) == 2, held_out_log(paths)
    assert webhook.accepted["c000"] == 1
