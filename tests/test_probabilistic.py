"""Probabilistic matching on a hand-made world: typo'd duplicates that share no identifier link with
a probability, a grey-zone pair waits for review, a reviewer's reject splits (and accept merges) on
the next build, a merge whose evidence goes away splits with its reason; on Postgres the same
records link the same way and reviewer decisions hold."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from orchestration.build.pipeline import build
from orchestration.identity.matching import pair_id
from orchestration.identity.review import ReviewError, explain, record_decision, review_queue, write_waterfall
from orchestration.warehouse.registry import get_warehouse
from tests.conftest import require_postgres
from tests.parity import assert_same_outcome, probabilistic_outcome
from tests.worlds import (
    IDENTITY_LAYER,
    copy_of_built_world,
    crm_contact,
    dbt_unit_tests_run_once,
    shop_customer,
    ticket,
    world_settings,
    write_world,
)

# What these tests read: identity, the review queue and weights, the kept model and its metrics, with
# what feeds them (tests/worlds.py, IDENTITY_LAYER); the audiences, traits and syncs are not built.
PROBABILISTIC_LAYER = [
    *IDENTITY_LAYER,
    "+identity_review_queue",
    "+identity_match_weights",
    "+int_identity__match_pair_records",
    "+identity_match_model_store",
    "+model_metrics",
]

FIRST = ["Oliver", "Amelia", "George", "Isla", "Harry", "Ava", "Noah", "Mia", "Jack", "Grace",
         "Leo", "Lily", "Oscar", "Freya", "Arthur", "Emily", "Henry", "Ella", "Theo", "Sophie",
         "Alfie", "Poppy", "Jacob", "Evie", "Freddie", "Ruby", "Finley", "Daisy", "Archie", "Alice"]  # fmt: skip
LAST = ["Smith", "Jones", "Taylor", "Brown", "Williams", "Wilson", "Johnson", "Davies", "Robinson",
        "Wright", "Thompson", "Evans", "Walker", "White", "Roberts", "Green", "Hall", "Wood",
        "Jackson", "Clarke", "Patel", "Khan", "Lewis", "James", "Phillips", "Mason", "Mitchell",
        "Rose", "Davis", "Rodriguez"]  # fmt: skip
STREETS = ["Church", "Station", "Victoria", "Park", "Green", "Manor", "Kings", "Queens", "Grange", "Albert"]
BACKGROUND = 270  # people with a CRM contact and a shop account sharing an email or phone: 540 person records


def _with_address(
    row: dict[str, Any], street: str | None, postcode: str | None, dob: str | None = None
) -> dict:
    return {**row, "street": street, "postcode": postcode, "city": "Leeds", "date_of_birth": dob}


def background() -> tuple[list[dict], list[dict]]:
    crm, shop = [], []
    for i in range(BACKGROUND):
        first, last = FIRST[i % 30], LAST[(i * 7 + i // 30) % 30]
        email = f"{first.lower()}.{last.lower()}{i}@mail{i % 4}.org"
        street = f"{i + 1} {STREETS[i % 10]} Road"
        postcode = f"LS{i % 9 + 1} {i % 7 + 1}{chr(65 + i % 26)}{chr(65 + (i * 3) % 26)}"
        dob = f"{1950 + i % 50}-{i % 12 + 1:02d}-{i % 28 + 1:02d}"
        phone = f"+4477005{i:05d}" if i % 2 else None
        shop_email = email
        if i % 4 == 1:  # a second address in the shop: the two records still share the phone
            shop_email = f"{first.lower()}{i}@box{i % 3}.net"
        crm.append(
            _with_address(
                crm_contact(f"003BG{i:05d}", first, last, email, phone, day=i % 40), street, postcode, dob
            )
        )
        shop_street = street.replace(" Road", " Rd") if i % 5 == 0 else street
        shop.append(
            _with_address(
                shop_customer(20000 + i, first, last, shop_email, phone, day=i % 40 + 1),
                shop_street,
                postcode,
            )
        )
    return crm, shop


# P1: one person's CRM contact and shop account, a typo in the surname, no shared identifier.
P1_CRM = _with_address(
    crm_contact("003P1", "Katherine", "Oduya", "k.oduya@work.org", "+447700111001", day=5),
    "7 Larch Crescent", "LS6 2AB", "1984-05-17",
)  # fmt: skip
P1_SHOP = _with_address(
    shop_customer(30001, "Katherine", "Oduyah", "katherine.o@home.net", day=9), "7 Larch Cres", "LS62AB"
)
# P2: a CRM contact and a support ticket with the same (common) name and different emails: probable, not sure.
P2_CRM = _with_address(
    crm_contact("003P2", "Thomas", "Smith", "tsmith@corp.org", day=3), "3 Mill Lane", "M14 5TQ"
)
P2_TICKET = ticket(40002, "Thomas Smith", "tsmith77@gmail.com", None, day=12)
# P4: like P2, and left undecided: it waits in the review queue in both builds.
P4_CRM = _with_address(
    crm_contact("003P4", "Daniel", "Brown", "dbrown@corp.org", day=6), "14 Elm Grove", "M20 2RN"
)
P4_TICKET = ticket(40004, "Daniel Brown", "dbrown84@gmail.com", None, day=14)
# P3: the same name and address in CRM and shop; in the second build the shop account's address is another.
P3_CRM = _with_address(
    crm_contact("003P3", "Rosa", "Lindqvist", "rosa@lind.se", day=4), "21 Harbour Way", "BS1 4QA"
)
P3_SHOP = _with_address(
    shop_customer(30003, "Rosa", "Lindqvist", "rosa.l@post.com", day=8), "21 Harbour Way", "BS14QA"
)
P3_SHOP_MOVED = _with_address(P3_SHOP, "90 Oak Street", "EH1 1AA")

PAIR_1 = pair_id("crm:contacts:003P1", "shop:customers:30001")
PAIR_2 = pair_id("crm:contacts:003P2", "support:tickets:40002")
PAIR_3 = pair_id("crm:contacts:003P3", "shop:customers:30003")
PAIR_4 = pair_id("crm:contacts:003P4", "support:tickets:40004")


def world(p3_shop: dict) -> dict[str, list[dict]]:
    crm, shop = background()
    return {
        "crm.contacts": [*crm, P1_CRM, P2_CRM, P3_CRM, P4_CRM],
        "shop.customers": [*shop, P1_SHOP, p3_shop],
        "support.tickets": [P2_TICKET, P4_TICKET],
    }


def query(settings, sql: str) -> list[tuple]:
    return get_warehouse(settings).query_published(sql)


def customer(settings, source: str, table: str, record_id: str) -> str:
    rows = query(
        settings,
        "select customer_id from customer_source_records "
        f"where source_name = '{source}' and table_name = '{table}' and record_id = '{record_id}'",
    )
    assert len(rows) == 1, (source, table, record_id, rows)
    return str(rows[0][0])


# The first build of world(P3_SHOP) is the same here, in tests/test_train_apart.py and in
# tests/test_identity_diff.py: it is built once per test run (tests/worlds.py, copy_of_built_world),
# narrowed to what any of them reads, PROBABILISTIC_LAYER and the kept models' layer of test_train_apart.
P3_FIRST_LAYER = [
    *PROBABILISTIC_LAYER,
    "+int_prediction_models",
    "+prediction_model_store",
    "+int_customer_features_scored",
]


def first_p3_world(tmp_path_factory: pytest.TempPathFactory, into: Path) -> Any:
    """A private copy (under `into`) of world(P3_SHOP) after its first build."""
    return copy_of_built_world(tmp_path_factory, "p3", world(P3_SHOP), P3_FIRST_LAYER, into)


@pytest.fixture(scope="module")
def first_build(tmp_path_factory):
    return first_p3_world(tmp_path_factory, tmp_path_factory.mktemp("probabilistic"))


@pytest.fixture(scope="module")
def second_build(first_build):
    """The reviewer rejects pair 1 and accepts pair 2; pair 3's shop account moves house."""
    settings = first_build
    ids = {
        "p1": (
            customer(settings, "crm", "contacts", "003P1"),
            customer(settings, "shop", "customers", "30001"),
        ),
        "p3": (
            customer(settings, "crm", "contacts", "003P3"),
            customer(settings, "shop", "customers", "30003"),
        ),
    }
    record_decision(settings, PAIR_1, "reject", "ana", "different people: checked by phone")
    record_decision(settings, PAIR_2[:12], "accept", "ana")
    write_world(settings.data_dir, world(P3_SHOP_MOVED))
    # Trained anew on this build's data (as Postgres's one build of it is), not the first build's kept
    # model: the parity test compares the two warehouses on the same data.
    with pytest.MonkeyPatch.context() as monkeypatch:
        monkeypatch.setenv("TESSERA_IDENTITY_RETRAIN", "true")
        with dbt_unit_tests_run_once():
            result = build(settings, select=PROBABILISTIC_LAYER)
    assert result.published, result.audit.failures
    return settings, ids


def test_typod_duplicates_sharing_no_identifier_link_with_a_probability(first_build):
    settings = first_build
    crm_customer = customer(settings, "crm", "contacts", "003P1")
    assert customer(settings, "shop", "customers", "30001") == crm_customer
    placed = query(
        settings,
        "select placed_by, confidence from customer_source_records "
        "where record_id in ('003P1', '30001') order by record_id",
    )
    by_rule = dict(placed)
    assert "link:probabilistic" in by_rule and 0.99 <= by_rule["link:probabilistic"] <= 1.0
    links = query(
        settings,
        f"select link_rule, confidence, linked_record from identity_links where pair_id = '{PAIR_1}'",
    )
    assert len(links) == 1 and links[0][0] == "probabilistic" and links[0][1] >= 0.99
    # The background's records are still one customer per person: no household-style over-merging.
    people = query(
        settings,
        "select count(distinct customer_id) from customer_source_records where record_id like '003BG%'",
    )
    assert people[0][0] == BACKGROUND


def test_the_why_of_a_pair_is_shown(first_build, tmp_path):
    settings = first_build
    figures = explain(settings, PAIR_1)
    assert figures["link_status"] == "accepted"
    names = [w["comparison"] for w in figures["weights"]]
    assert names[0] == "prior" and {"first_name", "last_name", "street", "postcode", "email"} <= set(names)
    assert sum(w["match_weight"] for w in figures["weights"]) == pytest.approx(figures["match_weight"])
    levels = {w["comparison"]: w["level"] for w in figures["weights"]}
    assert levels["street"] == "Exact match on street_key"  # "7 Larch Crescent" = "7 Larch Cres"
    html = write_waterfall(settings, PAIR_1, tmp_path / "pair.html").read_text()
    assert "vega" in html and "oduyah" in html
    with pytest.raises(ReviewError):
        explain(settings, "pair_0000000000000000")


def test_grey_zone_pair_waits_for_review(first_build):
    settings = first_build
    queued = {row["pair_id"]: row for row in review_queue(settings, 100)}
    assert PAIR_2 in queued and PAIR_4 in queued, queued.keys()
    assert 0.8 <= queued[PAIR_2]["match_probability"] < 0.99
    assert customer(settings, "crm", "contacts", "003P2") != customer(settings, "support", "tickets", "40002")
    assert PAIR_1 not in queued


def test_reject_splits_and_never_merges_again_accept_merges(second_build):
    settings, before = second_build
    assert customer(settings, "crm", "contacts", "003P1") != customer(settings, "shop", "customers", "30001")
    history = query(
        settings,
        "select change_kind, reason from customer_id_history "
        f"where old_customer_id = '{before['p1'][0]}' and change_kind = 'split'",
    )
    assert history and "rejected by ana" in history[0][1] and PAIR_1 in history[0][1]
    assert customer(settings, "crm", "contacts", "003P2") == customer(settings, "support", "tickets", "40002")
    placed = dict(
        query(
            settings,
            "select placed_by, confidence from customer_source_records where record_id in ('003P2', '40002')",
        )
    )
    assert placed.get("link:reviewer_accepted") == 1.0
    queued = {row["pair_id"] for row in review_queue(settings, 100)}
    assert PAIR_1 not in queued and PAIR_2 not in queued


def test_merge_that_loses_its_evidence_splits_with_its_reason(second_build):
    settings, before = second_build
    assert before["p3"][0] == before["p3"][1], "pair 3 was one customer in the first build"
    assert customer(settings, "crm", "contacts", "003P3") != customer(settings, "shop", "customers", "30003")
    reasons = [
        reason
        for (reason,) in query(
            settings,
            f"select reason from customer_id_history where old_customer_id = '{before['p3'][0]}' and change_kind = 'split'",
        )
    ]
    assert reasons and f"probabilistic link {PAIR_3} lost" in reasons[0]
    assert "review threshold" in reasons[0] or "fell to" in reasons[0]


def test_a_retrain_asked_for_trains_a_new_version_with_its_reason(second_build):
    """TESSERA_IDENTITY_RETRAIN (what `tessera run --retrain` sets) reaches the DuckDB build's model:
    a new version, trained for the reason `forced`, kept beside the first build's untouched one."""
    settings, _ = second_build
    assert query(
        settings, "select distinct model_version, train_reason, model_decision from int_identity__match_model"
    ) == [(2, "forced", "trained")]
    store = query(
        settings,
        "select model_version, train_reason, last_decision, builds_used, training_records "
        "from identity_match_model_store order by model_version",
    )
    assert [tuple(row[:4]) for row in store] == [(1, "first", "trained", 1), (2, "forced", "trained", 1)]
    metrics = query(
        settings,
        "select model_version, metric_name, metric_value, train_reason, model_decision from model_metrics "
        "where model_name = 'identity_match' and built_at = (select max(built_at) from model_metrics)",
    )
    assert ("2", "training_rows", float(store[1][4]), "forced", "trained") in [tuple(row) for row in metrics]


def test_bad_decisions_are_refused_or_quarantined(second_build):
    settings, _ = second_build
    with pytest.raises(ReviewError):
        record_decision(settings, "not-a-pair", "accept")
    with pytest.raises(ReviewError):
        record_decision(settings, PAIR_1, "maybe")
    applied = query(settings, "select count(*) from stg_review__identity_review_decisions")[0][0]
    assert applied == 2


@pytest.fixture(scope="module")
def postgres_second_build(second_build, tmp_path_factory):
    """The second build's raw data and decisions, built once on Postgres."""
    require_postgres()
    settings, _ = second_build
    pg = world_settings(
        tmp_path_factory.mktemp("probabilistic_pg"), target="postgres", pg_schema="tessera_prob"
    )
    write_world(pg.data_dir, world(P3_SHOP_MOVED))
    (pg.raw_dir / "review").mkdir(parents=True, exist_ok=True)
    decisions = settings.raw_dir / "review" / "identity_review_decisions.parquet"
    (pg.raw_dir / "review" / decisions.name).write_bytes(decisions.read_bytes())
    with dbt_unit_tests_run_once():
        assert build(pg, select=PROBABILISTIC_LAYER).published
    return pg


def test_reviewer_decisions_hold_on_postgres(postgres_second_build, tmp_path):
    """Decisions made on DuckDB's pairs hold on Postgres; there the queue is explained, drawn and
    decided from the published schema like on DuckDB."""
    pg = postgres_second_build
    assert customer(pg, "crm", "contacts", "003P2") == customer(pg, "support", "tickets", "40002")
    assert customer(pg, "crm", "contacts", "003P1") != customer(pg, "shop", "customers", "30001")
    queued = {row["pair_id"] for row in review_queue(pg, 100)}
    assert queued == {PAIR_4}
    figures = explain(pg, PAIR_4)
    assert figures["link_status"] == "review"
    assert sum(w["match_weight"] for w in figures["weights"]) == pytest.approx(figures["match_weight"])
    assert "vega" in write_waterfall(pg, PAIR_4, tmp_path / "pair.html").read_text()
    made = record_decision(pg, PAIR_4[:10], "accept", "bo")
    assert (made.pair_id, made.unique_id_l, made.unique_id_r) == (
        PAIR_4,
        "crm:contacts:003P4",
        "support:tickets:40004",
    )


def test_postgres_links_the_same_records_as_duckdb(second_build, postgres_second_build):
    """Splink runs on Postgres too (between two dbt invocations): the same model, the same pairs with
    the same probabilities, the same edges, review queue and customers as the DuckDB build."""
    duck = probabilistic_outcome(second_build[0])
    pg = probabilistic_outcome(postgres_second_build)
    assert len(duck["model"]) > 20 and len(duck["pairs"]) > 200
    assert [row[0] for row in duck["review_queue"]] == [PAIR_4]
    assert any(row[0] == PAIR_2 and row[1] == "accepted_by_reviewer" for row in pg["links"])
    assert_same_outcome(duck, pg)


def test_an_unreadable_decisions_file_is_refused_not_overwritten(tmp_path: Path):
    from orchestration.identity.review import decisions_path, read_decisions

    settings = world_settings(tmp_path)
    path = decisions_path(settings)
    path.parent.mkdir(parents=True)
    path.write_bytes(b"not parquet")
    with pytest.raises(ReviewError, match="not a readable Parquet file"):
        read_decisions(settings)
    with pytest.raises(ReviewError):
        record_decision(settings, PAIR_1, "accept")
    assert path.read_bytes() == b"not parquet"
