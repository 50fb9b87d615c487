"""`tessera identity diff` on the hand-made probabilistic world (tests/test_probabilistic.py): raising
the accept threshold splits the customer only a probabilistic link joined, an unchanged setting changes
nothing, a replaced seed is applied, and the published warehouse and stable-id state stay exactly as
they were."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pyarrow as pa
import pytest
from click.testing import CliRunner

from orchestration.build.pipeline import narrow_phase
from orchestration.identity.diff import (
    WhatIf,
    WhatIfError,
    compare,
    identity_diff,
    mask_identifier,
    parse_change,
)
from orchestration.warehouse.registry import get_warehouse
from tests.test_probabilistic import P1_CRM, P1_SHOP, P2_TICKET, PAIR_1, first_p3_world

STATE_TABLES = ("customer_id_map", "customer_id_history", "customer_source_records", "customers")


def published_state(settings) -> dict[str, list[tuple]]:
    warehouse = get_warehouse(settings)
    return {
        table: sorted(warehouse.query_published(f"select * from {table}"), key=repr) for table in STATE_TABLES
    }


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def customer_of(settings, record_id: str) -> str:
    rows = get_warehouse(settings).query_published(
        f"select customer_id from customer_source_records where record_id = '{record_id}'"
    )
    assert len(rows) == 1, rows
    return str(rows[0][0])


@pytest.fixture(scope="module")
def whatif_world(tmp_path_factory):
    """world(P3_SHOP) after its first build (a copy of its own: tests/test_probabilistic.py, first_p3_world)."""
    return first_p3_world(tmp_path_factory, tmp_path_factory.mktemp("whatif"))


def test_raising_the_accept_threshold_splits_a_probabilistic_customer(whatif_world):
    settings = whatif_world
    # P1's CRM contact and shop account share no identifier: one probabilistic link joins them.
    joined = customer_of(settings, P1_CRM["contact_id"])
    assert customer_of(settings, str(P1_SHOP["customer_id"])) == joined
    (probability,) = get_warehouse(settings).query_published(
        f"select confidence from identity_links where pair_id = '{PAIR_1}'"
    )[0]
    assert 0.99 <= probability < 1.0
    before_file, before_state = digest(settings.published_db), published_state(settings)

    report = identity_diff(
        settings, WhatIf({"identity_match_accept_threshold": (probability + 1.0) / 2}), examples=20
    )

    splits = {change.customer_id: change for change in report.splits}
    assert joined in splits, report.to_json()
    p1 = splits[joined]
    assert len(p1.parts) == 2 and p1.records == 2
    shown = {row["record_id"]: row for row in p1.examples}
    assert set(shown) == {P1_CRM["contact_id"], str(P1_SHOP["customer_id"])}
    assert shown[P1_CRM["contact_id"]]["group"] != shown[str(P1_SHOP["customer_id"])]["group"]
    assert "link:probabilistic" in {row["placed_by_before"] for row in p1.examples}
    assert report.split_count >= 1 and report.merge_count == 0
    # Identifiers are shown masked: never a whole email or phone.
    text = json.dumps(report.to_json())
    for value in (P1_CRM["email"], P1_CRM["phone"], P1_SHOP["email"]):
        assert value not in text
    assert any(i.startswith("email:k***@w***") for i in shown[P1_CRM["contact_id"]]["identifiers"])
    # Nothing was published: the file is byte for byte the same, the stable-id state row for row.
    assert digest(settings.published_db) == before_file
    assert published_state(settings) == before_state
    assert not list(settings.published_db.parent.glob("tessera-scratch-*"))


def test_an_unchanged_setting_reports_no_change(whatif_world):
    settings = whatif_world
    before_file = digest(settings.published_db)
    report = identity_diff(settings, parse_change(["identity_match_accept_threshold=0.99"], []))
    assert (report.merge_count, report.split_count, report.newly_placed, report.no_longer_placed) == (
        0,
        0,
        0,
        0,
    )
    assert report.records_compared > 500 and report.customers_before == report.customers_after
    assert digest(settings.published_db) == before_file


def test_a_replaced_seed_is_applied_through_the_cli(whatif_world, tmp_path, monkeypatch):
    """The blocklist plus one domain: the two support tickets, placed by a gmail address alone, are
    no longer placed; nothing else moves."""
    from orchestration.identity.cli import identity

    settings = whatif_world
    blocklist = tmp_path / "blocklist.csv"
    seed = (settings.project_dir / "seeds" / "identifier_blocklist.csv").read_text()
    blocklist.write_text(seed.rstrip("\n") + "\nemail,^[^@]+@gmail\\.com$,what-if: a free-mail domain\n")
    for name, value in {
        "TESSERA_TARGET": "duckdb",
        "TESSERA_DATA_DIR": str(settings.data_dir),
        "TESSERA_WAREHOUSE": str(settings.published_db),
        "TESSERA_BUILD_DB": str(settings.build_db),
    }.items():
        monkeypatch.setenv(name, value)
    before_file = digest(settings.published_db)
    result = CliRunner().invoke(
        identity,
        ["diff", "--seed-file", f"identifier_blocklist={blocklist}", "--json"],
        catch_exceptions=False,
    )
    assert result.exit_code == 0, result.output
    report = json.loads(result.output)
    assert report["no_longer_placed"] == 2  # the two tickets
    assert (report["merges"], report["splits"], report["newly_placed"]) == (0, 0, 0)
    assert P2_TICKET["requester_email"] not in result.output
    assert digest(settings.published_db) == before_file


def test_wrong_changes_are_refused_clearly(whatif_world, tmp_path):
    with pytest.raises(WhatIfError, match="not an identity var"):
        parse_change(["identity_match_acept_threshold=0.9"], [])
    with pytest.raises(WhatIfError, match="expected a number"):
        parse_change(["identity_match_accept_threshold=high"], [])
    with pytest.raises(WhatIfError, match="not an identity seed"):
        parse_change([], [f"source_priority={tmp_path}"])
    wrong = tmp_path / "types.csv"
    wrong.write_text("identifier_type,priority\nemail,1\n")
    with pytest.raises(WhatIfError, match="missing"):
        identity_diff(whatif_world, parse_change([], [f"identifier_types={wrong}"]))


def test_merges_splits_and_placement_are_judged_by_partition():
    """Ids may differ between the two assignments: only who is together with whom counts."""
    before = [
        ("crm", "contacts", "r1", "A", "identifier:email"),
        ("crm", "contacts", "r2", "A", "identifier:email"),
        ("shop", "customers", "r3", "B", "identifier:phone"),
        ("crm", "contacts", "r4", "C", "identifier:email"),
        ("shop", "customers", "r5", "C", "link:probabilistic"),
        ("crm", "contacts", "r6", "D", "identifier:email"),
        ("crm", "contacts", "r8", "E", "identifier:email"),
    ]
    after = [
        ("crm", "contacts", "r1", "X", "identifier:email"),
        ("crm", "contacts", "r2", "X", "identifier:email"),
        ("shop", "customers", "r3", "X", "link:probabilistic"),
        ("crm", "contacts", "r4", "C", "identifier:email"),
        ("shop", "customers", "r5", "Z", "identifier:shop_customer_id"),
        ("pos", "transactions", "r7", "W", "identifier:phone"),
        ("crm", "contacts", "r8", "renamed", "identifier:email"),
    ]
    names = ["source_name", "table_name", "record_id", "customer_id", "placed_by"]
    after_table = pa.table({name: [row[i] for row in after] for i, name in enumerate(names)})
    occurrences = pa.table(
        {
            "source_name": ["crm", "shop"],
            "table_name": ["contacts", "customers"],
            "record_id": ["r1", "r5"],
            "identifier_type": ["email", "phone"],
            "identifier_value": ["ann.lee@example.org", "+447700900123"],
        }
    )
    report = compare(before, after_table, occurrences, examples=5)
    assert (report.merge_count, report.split_count) == (1, 1)
    assert (report.newly_placed, report.no_longer_placed, report.records_moved) == (1, 1, 5)
    (merge,) = report.merges
    assert merge.customer_id == "X" and merge.parts == ["A", "B"] and merge.records == 3
    assert {row["group"] for row in merge.examples} == {"A", "B"}
    (split,) = report.splits
    assert split.customer_id == "C" and split.parts == ["C", "Z"] and split.records == 2
    shown = json.dumps(report.to_json())
    assert "ann.lee@example.org" not in shown and "+447700900123" not in shown
    assert "email:a***@e***.org" in shown and "phone:+44********23" in shown
    nothing = compare(
        before, pa.table({n: [row[i] for row in before] for i, n in enumerate(names)}), occurrences
    )
    assert not nothing.changed


def test_masking_keeps_no_whole_identifier():
    assert mask_identifier("email", "katherine.o@home.net") == "k***@h***.net"
    assert mask_identifier("phone", "+447700111001") == "+44********01"
    assert "003P1" not in mask_identifier("crm_contact_id", "003P1")


def test_a_phase_is_narrowed_to_the_selection():
    assert narrow_phase([], ["a"]) == ["--select", "a"]
    assert narrow_phase(["--exclude", "m+"], ["a", "b"]) == ["--select", "a", "b", "--exclude", "m+"]
    assert narrow_phase(["--select", "m+", "--exclude", "s+"], ["a", "b"]) == [
        "--select", "m+,a", "m+,b", "--exclude", "s+",
    ]  # fmt: skip


@pytest.mark.xdist_group("postgres_p3")
def test_postgres_what_if_splits_and_leaves_the_published_schema(p3_postgres_builds):
    # world(P3_SHOP) built on Postgres by tests/test_train_apart.py (tests/conftest.py, p3_postgres_builds):
    # the what-if leaves the published schema as it is, so it may read that world.
    settings, _, _ = p3_postgres_builds
    # Which pairs link depends on what Splink learns from these few hundred records, so the test names
    # none: a threshold above every probabilistic link's probability splits customers, and only
    # customers that a probabilistic link joined.
    links = get_warehouse(settings).query_published(
        "select customer_id, confidence from identity_links where link_rule = 'probabilistic' and confidence < 1"
    )
    assert links, "the Postgres world has no probabilistic link"
    linked = {customer_id for customer_id, _ in links}
    highest = max(confidence for _, confidence in links)
    before = published_state(settings)
    report = identity_diff(settings, WhatIf({"identity_match_accept_threshold": (highest + 1.0) / 2}))
    split = {change.customer_id for change in report.splits}
    assert split and split <= linked, report.to_json()
    assert published_state(settings) == before
    schemas = get_warehouse(settings).query_published(
        "select schema_name from information_schema.schemata "
        f"where schema_name like '{settings.postgres.published_schema}_scratch%'"
    )
    assert schemas == []
