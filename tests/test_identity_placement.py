"""Every person record is placed, or listed unresolved with a reason (issue #14).

A small hand-made person list with names, dates of birth and addresses only (no email, phone or
id), declared through the documented person-source YAML path, like a public benchmark list or an
old loyalty sheet. Before record nodes, none of these records became a customer."""

from __future__ import annotations

import textwrap
from dataclasses import replace
from pathlib import Path

import pytest

from orchestration.build.pipeline import build
from orchestration.build.reporting import warehouse_summary
from orchestration.warehouse.registry import get_warehouse
from tests.worlds import IDENTITY_LAYER, dbt_unit_tests_run_once, shop_customer, world_settings, write_world

# Swapped first/last names (P1/P2), a missing first name (P3 beside P1), a bad date of birth
# (P4), a household (P5/P6: one address and surname, different first names and dates of birth),
# a name with no date of birth and no address (P7: too little to place), an unparseable email
# and phone in an otherwise usable record (P8).
PEOPLE_CSV = textwrap.dedent(
    """\
    rec_id,given_name,surname,dob,street,suburb,postcode,email,phone
    P1,georgia,pettigrove,1971-04-12,12 Kinsella Street,Bundoora,3083,,
    P2,pettigrove,georgia,1971-04-12,12 Kinsella St,Bundoora,3083,,
    P3,,pettigrove,1971-04-12,12 Kinsella Street,Bundoora,3083,,
    P4,harold,wyatt,1955-11-92,4 Mortlock Crescent,Ainslie,2602,,
    P5,maria,santos,1980-02-01,7 Elm Road,Camberwell,3124,,
    P6,lucas,santos,2009-09-30,7 Elm Road,Camberwell,3124,,
    P7,nobody,known,,,,,,
    P8,ines,oduya,1990-06-15,1 Hill Lane,Kew,3101,ines(at)mail,12
    """
)

DECLARATION = textwrap.dedent(
    """\
    person_sources:
      - name: census
        file: people.csv
        record_id: rec_id
        fields:
          first_name: given_name
          last_name: surname
          date_of_birth: dob
          street: street
          city: suburb
          postcode: postcode
          email: email
          phone: phone
        date_format: YYYY-MM-DD
        default_country: AU
    """
)


# What the tests read (the identity tables, stg_person_sources__records, person_record_field_issues) and what
# warehouse_summary reads (quarantine_summary and the stg_ model of every raw table), with everything upstream:
# the builds leave out the events and orders marts, traits, predictions, audiences, activation and retention.
SELECTION = [*IDENTITY_LAYER, "+person_record_field_issues", "+quarantine_summary", "path:models/staging"]


def _settings(root: Path):
    return replace(world_settings(root), person_sources_path=root / "config" / "person_sources.yml")


@pytest.fixture(scope="module")
def placed_world(private_dbt_target, tmp_path_factory):
    """The world, built. Its builds look for a dbt parse to start from in this module's own target
    folder (private_dbt_target), not the project's target/, so the module runs on any pytest-xdist
    worker."""
    root = tmp_path_factory.mktemp("placement")
    settings = _settings(root)
    # Built-in sources too: a survey answer whose only identifier is a placeholder email cannot be
    # placed; a shop customer is placed by its id as before.
    write_world(
        settings.data_dir,
        {
            "shop.customers": [shop_customer(100, "Ann", "Lee", "ann.lee@mail.org")],
            "support.survey_responses": [
                {
                    "response_id": 9,
                    "requester_email": "test@test.com",
                    "survey_type": "csat",
                    "score": 4,
                    "responded_at": "2025-03-01 10:00:00",
                }
            ],
        },
    )
    folder = settings.person_sources_path.parent
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "people.csv").write_text(PEOPLE_CSV)
    settings.person_sources_path.write_text(DECLARATION)
    # Person sources reach dbt as landing tables, not vars: the project's default configuration, whose
    # dbt unit tests the main world runs.
    with dbt_unit_tests_run_once():
        result = build(settings, select=SELECTION)
    assert result.published, result.audit.failures
    return settings


def _query(settings, sql: str) -> list[tuple]:
    return [tuple(row) for row in get_warehouse(settings).query_published(sql)]


def _customers(settings) -> dict[str, str]:
    return dict(
        _query(
            settings,
            "select record_id, customer_id from customer_source_records where source_name = 'census'",
        )
    )


def test_every_record_with_a_name_and_a_date_of_birth_or_address_is_placed(placed_world):
    staged = {r for (r,) in _query(placed_world, "select record_id from stg_person_sources__records")}
    assert staged == {f"P{i}" for i in range(1, 9)}, "a bad field must not quarantine the record"
    customers = _customers(placed_world)
    assert set(customers) == {"P1", "P2", "P3", "P4", "P5", "P6", "P8"}
    placed_by = dict(
        _query(
            placed_world,
            "select record_id, placed_by from customer_source_records where source_name = 'census'",
        )
    )
    assert set(placed_by.values()) <= {"record", "link:probabilistic", "link:reviewer_accepted"}
    # A customer of its own gets a customer row, named from the record, and no identifiers.
    first_name, identifier_count, source_record_count = _query(
        placed_world,
        "select first_name, identifier_count, source_record_count from customers "
        f"where customer_id = '{customers['P4']}'",
    )[0]
    assert (first_name, identifier_count, source_record_count) == ("harold", 0, 1)


def test_the_household_does_not_merge(placed_world):
    customers = _customers(placed_world)
    assert customers["P5"] != customers["P6"]


def test_a_bad_date_of_birth_costs_the_field_not_the_record(placed_world):
    assert _query(
        placed_world,
        "select date_of_birth, date_of_birth_issue from stg_person_sources__records where record_id = 'P4'",
    ) == [(None, "unparseable date")]
    issues = _query(
        placed_world,
        "select record_id, field_name, issue from person_record_field_issues "
        "where source_name = 'census' order by 1, 2",
    )
    assert issues == [
        ("P4", "date_of_birth", "unparseable date"),
        ("P8", "email", "not a valid email address"),
        ("P8", "phone", "not a phone number"),
    ]
    assert _query(
        placed_world, "select email, phone from stg_person_sources__records where record_id = 'P8'"
    ) == [(None, None)]


def test_what_cannot_be_placed_is_listed_with_a_reason(placed_world):
    unresolved = _query(
        placed_world,
        "select source_name, record_id, reason from identity_unresolved_records order by 1, 2",
    )
    assert unresolved == [
        ("census", "P7", "a name only: no identifier, no date of birth and no address"),
        ("support", "9", "email test@test.com: placeholder local part"),
    ]
    # Nothing silently missing: every record is placed or listed, exactly once, per source.
    counts = _query(
        placed_world,
        """
        select r.source_name, r.table_name, count(*),
            count(p.record_id), count(u.record_id)
        from int_person_records_unioned as r
        left join customer_source_records as p
            on p.source_name = r.source_name and p.table_name = r.table_name and p.record_id = r.record_id
        left join identity_unresolved_records as u
            on u.source_name = r.source_name and u.table_name = r.table_name and u.record_id = r.record_id
        group by 1, 2 order by 1, 2
        """,
    )
    assert counts == [
        ("census", "people", 8, 7, 1),
        ("shop", "customers", 1, 1, 0),
        ("support", "survey_responses", 1, 0, 1),
    ]


def test_the_summary_counts_unresolved_records_per_source(placed_world):
    summary = warehouse_summary(placed_world)
    assert summary["identity"]["unresolved_by_source"] == {"census.people": 1, "support.survey_responses": 1}


def test_duplicates_with_swapped_names(placed_world):
    """Whether P1, P2 and P3 merge is probabilistic matching's work: below
    identity_match_min_records (500) person records nothing is trained, so each stays a customer of
    its own here, placed rather than lost. Record it, so a change is seen."""
    customers = _customers(placed_world)
    assert len({customers["P1"], customers["P2"], customers["P3"]}) == 3


def test_record_customers_keep_their_ids_through_a_rebuild(placed_world):
    """Record nodes are carried in customer_id_map like identifiers: a rebuild with a new record
    keeps every existing customer id (runs last: it rebuilds the module's world)."""
    before = _customers(placed_world)
    csv_path = placed_world.person_sources_path.parent / "people.csv"
    csv_path.write_text(csv_path.read_text() + "P9,zoe,quill,1999-01-01,3 Bay Road,Kew,3101,,\n")
    # Without the unit tests too: the first build recorded no unit-test fingerprint, so this one would run them.
    with dbt_unit_tests_run_once():
        result = build(placed_world, select=SELECTION)
    assert result.published, result.audit.failures
    after = _customers(placed_world)
    assert {r: after[r] for r in before} == before
    assert after["P9"] not in before.values()
    assert _query(placed_world, "select count(*) from customer_id_history") == [(0,)]
