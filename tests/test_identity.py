"""Identity scenarios on tiny hand-made worlds: long chains, kiosks, shared inboxes, duplicates,
stable ids through a merge and a split, full refresh, and the same answer on DuckDB and Postgres.
Every build here is narrowed to the identity layer and what feeds it (tests/worlds.py, IDENTITY_LAYER)."""

from __future__ import annotations

from pathlib import Path

import pytest

from orchestration.build.pipeline import BuildResult, build
from orchestration.warehouse.registry import get_warehouse
from tests.conftest import require_postgres
from tests.worlds import (
    IDENTITY_LAYER,
    crm_contact,
    dbt_unit_tests_run_once,
    identify,
    shop_customer,
    ticket,
    track,
    world_settings,
    write_world,
)

CHAIN_LENGTH = 60  # tickets alternate email and phone: a path of 2 * 60 hops


def scenario_rows() -> dict[str, list[dict]]:
    tickets = []
    for k in range(CHAIN_LENGTH):
        tickets.append(ticket(1000 + 2 * k, "Ann Chain", f"ann{k}@chain.org", f"+4477009{k:05d}", day=k))
        tickets.append(ticket(1001 + 2 * k, "Ann Chain", f"ann{k + 1}@chain.org", f"+4477009{k:05d}", day=k))
    users = [("Una", "One"), ("Ted", "Two"), ("Tia", "Three"), ("Finn", "Four"), ("Fay", "Five")]
    shop = [
        shop_customer(100 + i, first, last, f"{first.lower()}@kiosk.org")
        for i, (first, last) in enumerate(users)
    ]
    identifies = []
    for i in range(len(users)):
        identifies.append(identify(f"k{i}", "kiosk-1", str(100 + i), day=10 + i))
        identifies.append(identify(f"d{i}", f"device-{i}", str(100 + i), day=20 + i))
    shop += [
        shop_customer(200, "Anna", "Lee", "family@lee.org"),
        shop_customer(201, "Tom", "Lee", "family@lee.org"),
        shop_customer(300, "Jo", "Junk", "test@test.com"),
        shop_customer(301, "Max", "Junk", "test@test.com"),
        shop_customer(400, "Zoe", "Cart", "zoe@cart.org"),
    ]
    crm = [
        crm_contact("003A", "William", "Gates", "bill@gates.org"),
        crm_contact("003B", "Gates", "Bill", "bill@gates.org", day=30),
    ]
    tracks = [track("t1", "anon-z", None, "product_added", day=40, hour=9)]
    identifies.append(identify("z1", "anon-z", "400", day=40))
    return {
        "support.tickets": tickets,
        "shop.customers": shop,
        "events.identifies": identifies,
        "events.tracks": tracks,
        "crm.contacts": crm,
    }


def customer_of(settings, kind: str, value: str) -> str | None:
    rows = get_warehouse(settings).query_published(
        f"select customer_id from customer_identifiers where identifier_type = '{kind}' and identifier_value = '{value}'"
    )
    return rows[0][0] if rows else None


def partition(settings) -> set[frozenset[str]]:
    rows = get_warehouse(settings).query_published(
        "select customer_id, identifier_type || ':' || identifier_value from customer_identifiers"
    )
    groups: dict[str, set[str]] = {}
    for customer_id, key in rows:
        groups.setdefault(customer_id, set()).add(key)
    return {frozenset(g) for g in groups.values()}


@pytest.fixture(scope="module")
def scenario(tmp_path_factory):
    settings = world_settings(tmp_path_factory.mktemp("scenario"))
    write_world(settings.data_dir, scenario_rows())
    result = _build(settings)
    assert result.published, result.audit.failures
    return settings


def test_long_chain_is_one_customer(scenario):
    first = customer_of(scenario, "email", "ann0@chain.org")
    last = customer_of(scenario, "email", f"ann{CHAIN_LENGTH}@chain.org")
    assert first is not None and first == last
    n = get_warehouse(scenario).query_published(
        f"select identifier_count from customers where customer_id = '{first}'"
    )[0][0]
    assert n == 2 * CHAIN_LENGTH + 1


def test_kiosk_device_does_not_glue_its_users(scenario):
    customers = {customer_of(scenario, "shop_customer_id", str(100 + i)) for i in range(5)}
    assert len(customers) == 5 and None not in customers
    assert customer_of(scenario, "anonymous_id", "kiosk-1") is None
    for i in range(5):
        assert customer_of(scenario, "anonymous_id", f"device-{i}") == customer_of(
            scenario, "shop_customer_id", str(100 + i)
        )
    audit = get_warehouse(scenario).query_published(
        "select guard from identity_guard_audit where identifier_value = 'kiosk-1'"
    )
    assert ("max_group_size",) in audit


def test_shared_inbox_and_junk_do_not_merge(scenario):
    assert customer_of(scenario, "shop_customer_id", "200") != customer_of(
        scenario, "shop_customer_id", "201"
    )
    assert customer_of(scenario, "shop_customer_id", "300") != customer_of(
        scenario, "shop_customer_id", "301"
    )
    guards = dict(
        get_warehouse(scenario).query_published(
            "select identifier_value, min(guard) from identity_guard_audit "
            "where identifier_value in ('family@lee.org', 'test@test.com') group by 1"
        )
    )
    assert guards["test@test.com"] == "blocklist"
    assert guards["family@lee.org"] in ("max_per_customer", "name_conflict")


def test_one_persons_duplicate_records_merge(scenario):
    """Two CRM contacts of one person (first and last name swapped in one) share an email: one customer."""
    assert customer_of(scenario, "crm_contact_id", "003A") == customer_of(scenario, "crm_contact_id", "003B")


def test_cart_add_before_sign_in_lands_on_the_profile(scenario):
    customer = customer_of(scenario, "shop_customer_id", "400")
    assert customer_of(scenario, "anonymous_id", "anon-z") == customer
    placed = get_warehouse(scenario).query_published(
        "select customer_id from customer_source_records where table_name = 'tracks_and_pages' and record_id = 't1'"
    )
    assert placed == [(customer,)]


def test_every_link_is_explained(scenario):
    unexplained = get_warehouse(scenario).query_published(
        "select count(*) from identity_links where link_rule is null or record_id is null"
    )[0][0]
    links = get_warehouse(scenario).query_published("select count(*) from identity_links")[0][0]
    assert links > CHAIN_LENGTH and unexplained == 0


def test_postgres_gives_the_same_customers(scenario, tmp_path):
    require_postgres()
    pg = world_settings(tmp_path, target="postgres", pg_schema="tessera_it")
    write_world(pg.data_dir, scenario_rows())
    assert _build(pg).published
    assert partition(pg) == partition(scenario)
    ids = "select customer_id from customers order by 1"
    assert get_warehouse(pg).query_published(ids) == get_warehouse(scenario).query_published(ids)


def _build(settings, *, full_refresh: bool = False) -> BuildResult:
    with dbt_unit_tests_run_once():
        return build(settings, full_refresh=full_refresh, select=IDENTITY_LAYER)


def test_stable_ids_through_merge_split_and_full_refresh(tmp_path: Path):
    settings = world_settings(tmp_path)
    mia_shop = shop_customer(500, "Mia", "Wong", "mia@x.org", day=1)
    mia_crm = crm_contact("003M", "Mia", "Wong", "mia.w@y.org", "+447700900001", day=2)
    login = identify("m1", "mia-phone", "500", email="mia.w@y.org", day=3)

    write_world(settings.data_dir, {"shop.customers": [mia_shop]})
    _build(settings)
    older = customer_of(settings, "shop_customer_id", "500")

    write_world(settings.data_dir, {"shop.customers": [mia_shop], "crm.contacts": [mia_crm]})
    _build(settings)
    newer = customer_of(settings, "crm_contact_id", "003M")
    assert newer != older and customer_of(settings, "shop_customer_id", "500") == older

    write_world(
        settings.data_dir,
        {"shop.customers": [mia_shop], "crm.contacts": [mia_crm], "events.identifies": [login]},
    )
    _build(settings)
    assert customer_of(settings, "crm_contact_id", "003M") == older, "a merge keeps the older id"
    history = get_warehouse(settings).query_published(
        "select old_customer_id, new_customer_id, change_kind, reason from customer_id_history"
    )
    assert [(h[0], h[1], h[2]) for h in history] == [(newer, older, "merge")]
    assert "same_record:events.identifies" in history[0][3]

    write_world(settings.data_dir, {"shop.customers": [mia_shop], "crm.contacts": [mia_crm]})
    _build(settings)
    # The CRM part holds 3 of the customer's 5 identifiers (id, email, phone): it keeps the id.
    assert customer_of(settings, "crm_contact_id", "003M") == older
    split_off = customer_of(settings, "shop_customer_id", "500")
    assert split_off not in (older, newer)
    history = get_warehouse(settings).query_published(
        "select old_customer_id, new_customer_id, change_kind from customer_id_history where change_kind = 'split'"
    )
    assert history == [(older, split_off, "split")]

    before = (
        partition(settings),
        get_warehouse(settings).query_published("select customer_id from customers order by 1"),
    )
    assert _build(settings, full_refresh=True).published
    after = (
        partition(settings),
        get_warehouse(settings).query_published("select customer_id from customers order by 1"),
    )
    assert after == before, "a full refresh keeps every customer id"
