"""Erasure and access export reach the records that probably are the person's (issue 14).

A small hand-made world on DuckDB (a copy of the privacy world, tests/privacy/world.py): Pia's shop account (her
email), and an old loyalty list (a declared person source) whose record L7 has her name and street and a loyalty
card, but no email: identity places it as a customer of its own. Probabilistic matching needs hundreds of records
to train, so the scored pair that ties the two records (p = 0.93, waiting in the review queue) is written into the
published warehouse by hand, as the matcher would have. The export by her email lists L7 without exporting it;
the erase with --include-probable erases L7's customer too (warehouse, the loyalty file), with a proof of 0 hits."""

from __future__ import annotations

import json

import duckdb
import pytest

from orchestration.privacy.erase import erase
from orchestration.privacy.export import export
from orchestration.warehouse.connection import open_read_only
from tests.privacy.world import PROBABLE_CARD as CARD
from tests.privacy.world import PROBABLE_EMAIL as EMAIL
from tests.privacy.world import PROBABLE_LOYALTY as LOYALTY
from tests.privacy.world import copy_of_privacy_world
from tests.worlds import dbt_unit_tests_run_once


@pytest.fixture(scope="module")
def world(private_dbt_manifest, tmp_path_factory):
    """A copy of the privacy world (built once per test run, tests/privacy/world.py), with the scored pair
    written in. The erase proof reads the model id columns from this module's own dbt parse
    (private_dbt_manifest), so the module runs on any pytest-xdist worker. The project's default dbt
    configuration (a person source reaches dbt as landing tables, not vars): the world was built without
    the dbt unit tests the main world runs, as is the erase's rebuild of it below."""
    settings = copy_of_privacy_world(tmp_path_factory, tmp_path_factory.mktemp("probable"))
    con = duckdb.connect(str(settings.published_db))
    try:
        ((shop_source, shop_table, shop_record, pia),) = con.execute(
            "select r.source_name, r.table_name, r.record_id, r.customer_id from customer_source_records as r "
            "inner join customers as c on c.customer_id = r.customer_id where c.email = ? and r.source_name = 'shop'",
            [EMAIL],
        ).fetchall()
        ((card_source, card_table, card_customer),) = con.execute(
            "select source_name, table_name, customer_id from customer_source_records where record_id = 'L7'"
        ).fetchall()
        assert card_customer != pia, "the loyalty record was linked already: nothing probable to test"
        pair = "pair_handmade_l7"
        con.execute(
            "insert into int_identity__match_pairs (pair_id, unique_id_l, unique_id_r, source_name_l, "
            "table_name_l, record_id_l, source_name_r, table_name_r, record_id_r, match_probability, "
            "match_weight, names_compatible, has_independent_evidence) "
            "values (?, ?, ?, ?, ?, ?, ?, ?, ?, 0.93, 3.7, true, false)",
            [pair, "u_l", "u_r", shop_source, shop_table, shop_record, card_source, card_table, "L7"],
        )
        con.execute(
            "insert into identity_review_queue (pair_id, customer_id_l, customer_id_r, unique_id_l, unique_id_r, "
            "review_reason, match_probability) values (?, ?, ?, 'u_l', 'u_r', 'between the review and accept "
            "thresholds', 0.93)",
            [pair, pia, card_customer],
        )
        # A pair under the review threshold and not queued is no probable record.
        con.execute(
            "insert into int_identity__match_pairs (pair_id, source_name_l, table_name_l, record_id_l, "
            "source_name_r, table_name_r, record_id_r, match_probability) values "
            "('pair_weak', ?, ?, ?, ?, ?, 'L8', 0.2)",
            [shop_source, shop_table, shop_record, card_source, card_table],
        )
        con.execute("checkpoint")
    finally:
        con.close()
    return settings, pia, card_customer, card_source, card_table


def test_the_export_lists_the_probable_record_without_exporting_it(world, tmp_path):
    settings, pia, card_customer, card_source, card_table = world
    result, path = export(settings, f"email:{EMAIL}", tmp_path / "export.json")
    document = json.loads(path.read_text())
    assert document["customer_ids"] == [pia]
    assert document["probable_records"] == [
        {
            "source_name": card_source,
            "table_name": card_table,
            "record_id": "L7",
            "customer_id": card_customer,
            "match_probability": 0.93,
            "pair_id": "pair_handmade_l7",
            "in_review_queue": True,
            "included": False,
        }
    ]
    assert result.probable == document["probable_records"]
    assert CARD not in path.read_text()


def test_an_export_with_include_probable_exports_their_customer_too(world, tmp_path):
    settings, pia, card_customer, *_ = world
    _, path = export(settings, f"email:{EMAIL}", tmp_path / "export.json", include_probable=True)
    document = json.loads(path.read_text())
    assert document["customer_ids"] == sorted([pia, card_customer])
    assert document["probable_records"][0]["included"] is True
    assert CARD in path.read_text()


def test_an_erase_extended_to_the_probable_record_erases_it_too(world):
    settings, pia, card_customer, *_ = world
    # The first build recorded no unit-test fingerprint: the rebuild leaves them out too.
    with dbt_unit_tests_run_once():
        result = erase(settings, f"email:{EMAIL}", syncs=[], include_probable=True)
    assert result.status == "completed", result.steps
    assert [(r["record_id"], r["included"]) for r in result.probable] == [("L7", True)]
    steps = {s["step"]: s for s in result.steps}
    assert "1 customer(s) added to the request" in steps["probable_records"]["detail"]
    assert "L7" not in steps["probable_records"]["detail"]
    assert result.proof["total_hits"] == 0
    con = open_read_only(settings.published_db)
    try:
        left = con.execute(
            "select customer_id from customers where customer_id in (?, ?)", [pia, card_customer]
        ).fetchall()
        others = con.execute("select count(*) from customers").fetchone()[0]
        cards = con.execute(
            "select count(*) from customer_identifiers where lower(identifier_value) = lower(?)", [CARD]
        ).fetchone()[0]
    finally:
        con.close()
    assert left == [] and cards == 0 and others >= 2  # Olly's shop account and his loyalty record stay
    lines = (settings.person_sources_path.parent / "loyalty.csv").read_text().splitlines()
    assert lines == [LOYALTY.splitlines()[0], LOYALTY.splitlines()[2]]
