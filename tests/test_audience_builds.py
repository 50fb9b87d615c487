"""Audiences across two builds of a hand-made world: rule semantics, history, sizes, explanations."""

from __future__ import annotations

import datetime as dt
import hashlib
from pathlib import Path

import pytest

from orchestration.audiences.check import AudienceSqlRefused, check_audiences
from orchestration.build.pipeline import build
from orchestration.settings import Settings
from orchestration.warehouse.registry import get_warehouse
from tests.worlds import copy_of_built_world, dbt_unit_tests_run_once, shop_customer, track, ts, write_world

PEOPLE = {1: ("Ann", "London"), 2: ("Ben", "Manchester"), 3: ("Cat", "Berlin"), 4: ("Dan", "London")}


def _customer(number: int, city: str, day: int = 0) -> dict:
    first, _ = PEOPLE[number]
    row = shop_customer(number, first, "Tester", f"{first.lower()}@example.com", day=day)
    row.update({"city": city, "country": "DE" if city == "Berlin" else "GB", "street": "1 High St"})
    return row


def _order(order_id: int, customer: int, day: int) -> dict:
    first, _ = PEOPLE[customer]
    return {
        "order_id": order_id,
        "customer_id": customer,
        "email": f"{first.lower()}@example.com",
        "channel": "online",
        "currency": "GBP",
        "subtotal_price": 50.0,
        "total_discounts": 0.0,
        "total_price": 50.0,
        "financial_status": "paid",
        "created_at": ts(day),
    }


def _item(item_id: int, order_id: int, category: str) -> dict:
    return {
        "order_item_id": item_id,
        "order_id": order_id,
        "product_id": f"P{item_id}",
        "product_name": "Matchday ticket" if category == "event_tickets" else "Shirt",
        "category": category,
        "quantity": 1,
        "price": 50.0,
    }


def _view(message: str, customer: int, day: int) -> dict:
    return track(message, f"anon-{customer}", str(customer), "product_viewed", day=day)


def world(second: bool) -> dict[str, list[dict]]:
    """Build 1: Ann browses (3 views in 30 days, 3 orders, a ticket last season, London); Ben viewed
    once; Cat has a ticket but lives in Berlin; Dan's view sets the reference time.
    Build 2: time moves on (Dan views 40 days later), so Ann's views fall out of the window; Ben
    views twice more; Cat moves to London."""
    customers = [_customer(1, "London"), _customer(2, "Manchester"), _customer(4, "London")]
    customers.append(_customer(3, "London", day=320) if second else _customer(3, "Berlin"))
    orders, items = [], []
    for k, customer in enumerate((1, 1, 1, 2, 2, 2, 3, 3, 3)):
        orders.append(_order(100 + k, customer, 200 + 10 * (k % 3)))
        items.append(_item(500 + k, 100 + k, "event_tickets" if k in (2, 8) else "apparel"))
    views = [_view("v1", 1, 295), _view("v2", 1, 296), _view("v3", 1, 299), _view("v4", 2, 298)]
    views += [_view("v5", 3, 10), _view("v6", 3, 11), _view("v7", 3, 12), _view("v8", 4, 300)]
    if second:
        views += [_view("v9", 2, 315), _view("v10", 2, 316), _view("v11", 4, 340)]
    stores = [
        {
            "store_id": "ST001",
            "store_name": "Tessera London Oxford Street",
            "city": "London",
            "region": "London",
        }
        | {"country": "GB", "latitude": 51.515, "longitude": -0.142}
    ]
    return {
        "shop.customers": customers,
        "shop.orders": orders,
        "shop.order_items": items,
        "events.tracks": views,
        "pos.stores": stores,
    }


def _bucket(text: str) -> int:
    return int(hashlib.md5(text.encode()).hexdigest()[:8], 16) % 100


# What this module and tests/test_audience_sandbox.py's DuckDB test read, and everything upstream of it: the
# audience models and their tail (memberships, history, sizes, explanations, priority lists) and the customers
# and identifiers the tests look people up in. The syncs, retention, quality and privacy marts are left out.
AUDIENCE_WORLD_LAYER = [
    "+audience_memberships",
    "+audience_membership_history",
    "+audience_size_history",
    "+audience_explanations",
    "+audience_priority_list_members",
    "+customer_identifiers",
]


def first_audience_world(tmp_path_factory: pytest.TempPathFactory, into: Path) -> Settings:
    """A private copy (under `into`) of world(False) after its first build (AUDIENCE_WORLD_LAYER), built
    once per test run for this module and tests/test_audience_sandbox.py (tests/worlds.py,
    copy_of_built_world)."""
    return copy_of_built_world(tmp_path_factory, "audiences", world(False), AUDIENCE_WORLD_LAYER, into)


@pytest.fixture(scope="module")
def two_builds(tmp_path_factory):
    settings = first_audience_world(tmp_path_factory, tmp_path_factory.mktemp("audience-world"))
    query = get_warehouse(settings).query_published
    snapshots = []
    for second in (False, True):
        if second:
            write_world(settings.data_dir, world(second))
            with dbt_unit_tests_run_once():
                assert build(settings, select=AUDIENCE_WORLD_LAYER).published
        snapshots.append(
            {
                "members": set(query("select audience_name, customer_id from audience_memberships")),
                "holdouts": set(
                    query(
                        "select audience_name, customer_id, is_holdout, is_global_holdout from audience_memberships"
                    )
                ),
                "built_at": query("select max(built_at) from audience_size_history")[0][0],
            }
        )
    ids = dict(
        query(
            "select cast(identifier_value as integer), customer_id from customer_identifiers "
            "where identifier_type = 'shop_customer_id'"
        )
    )
    return settings, query, snapshots, ids


def test_rule_audiences_follow_windows_groups_references_and_distance(two_builds):
    _, _, (first, second), ids = two_builds
    ann, ben, cat = ids[1], ids[2], ids[3]
    assert ("browsing_valuable_customers", ann) in first["members"]
    assert ("browsing_valuable_customers", ben) not in first["members"]  # one view only
    assert ("browsing_valuable_customers", cat) not in first["members"]  # views outside 30 days
    assert ("last_season_matchgoers_near_store", ann) in first["members"]
    assert ("last_season_matchgoers_near_store", cat) not in first["members"]  # Berlin is far away
    # After the reference time moved on 40 days:
    assert ("browsing_valuable_customers", ann) not in second["members"]
    assert ("browsing_valuable_customers", ben) in second["members"]
    assert ("last_season_matchgoers_near_store", cat) in second["members"]


def test_history_entries_and_exits_match_the_membership_diff(two_builds):
    _, query, (first, second), ids = two_builds
    builds = query("select build_id, min(changed_at) from audience_membership_history group by 1 order by 2")
    assert len(builds) == 2, builds
    changes = {
        kind: set(
            query(
                "select audience_name, customer_id from audience_membership_history "
                f"where build_id = '{builds[1][0]}' and change_kind = '{kind}'"
            )
        )
        for kind in ("entered", "exited")
    }
    assert changes["entered"] == second["members"] - first["members"]
    assert changes["exited"] == first["members"] - second["members"]
    assert ("browsing_valuable_customers", ids[1]) in changes["exited"]
    # Membership at any past time: the latest change at or before it is `entered`.
    at_first = set(
        query(
            "select audience_name, customer_id from ("
            "  select audience_name, customer_id, change_kind, row_number() over ("
            "    partition by audience_name, customer_id order by changed_at desc, change_kind) as rank_"
            "  from audience_membership_history"
            f"  where changed_at <= timestamp '{first['built_at']}'"
            ") as h where rank_ = 1 and change_kind = 'entered'"
        )
    )
    assert at_first == first["members"]


def test_size_history_counts_every_build(two_builds):
    _, query, (first, second), _ = two_builds
    rows = query(
        "select audience_name, member_count, holdout_count, entered_count, exited_count, built_at "
        "from audience_size_history order by built_at, audience_name"
    )
    audiences = {name for name, *_ in rows}
    assert len(rows) == 2 * len(audiences)
    for snapshot, previous, built_at in ((first, set(), first["built_at"]), (second, first["members"], None)):
        for name, members, holdouts, entered, exited, at in rows:
            if built_at is not None and at != built_at or built_at is None and at == first["built_at"]:
                continue
            now = {c for a, c in snapshot["members"] if a == name}
            before = {c for a, c in previous if a == name}
            assert members == len(now)
            assert holdouts == sum(1 for a, _, h, _ in snapshot["holdouts"] if a == name and h)
            assert (entered, exited) == (len(now - before), len(before - now))


def test_holdouts_are_deterministic_across_builds(two_builds):
    _, _, (first, second), _ = two_builds
    for snapshot in (first, second):
        for audience, customer, is_holdout, is_global in snapshot["holdouts"]:
            assert is_holdout == (_bucket(f"{audience}:{customer}") < 10)
            assert is_global == (_bucket(f"global:{customer}") < 5)
    stayed = {(a, c) for a, c, *_ in first["holdouts"]} & {(a, c) for a, c, *_ in second["holdouts"]}
    assert {h for h in first["holdouts"] if h[:2] in stayed} == {
        h for h in second["holdouts"] if h[:2] in stayed
    }


def test_explanations_say_why_and_priority_lists_pick_one_audience(two_builds):
    _, query, (_, second), ids = two_builds
    why = dict(
        query(
            "select condition_name, condition_value from audience_explanations "
            f"where audience_name = 'browsing_valuable_customers' and customer_id = '{ids[1]}'"
        )
    )
    assert why == {
        "viewed_2_products_in_30_days": False,
        "is_lapsed_high_value": why["is_lapsed_high_value"],
        "has_3_orders": True,
        "abandoned_a_cart_this_week": False,
        "is_valuable": True,
    }
    customers = query("select count(*) from customers")[0][0]
    per_audience = dict(
        query("select audience_name, count(distinct customer_id) from audience_explanations group by 1")
    )
    assert set(per_audience.values()) == {customers}  # members and non-members alike
    assigned = query("select customer_id, audience_name, priority_rank from audience_priority_list_members")
    assert len({c for c, _, _ in assigned}) == len(assigned)
    order = ["cart_abandoners_7d", "browsing_valuable_customers", "lapsed_high_value"]
    for customer, audience, rank in assigned:
        candidates = [a for a in order if (a, customer) in second["members"]]
        assert audience == candidates[0] and rank == order.index(audience) + 1


def test_compiled_check_refuses_a_sql_audience_that_is_not_a_select(two_builds, monkeypatch):
    """The pre-build check parses each model's compiled SQL (the real compile runs in every Dagster
    build, see test_audience_published) and refuses one holding a second statement."""
    from orchestration.audiences import check

    settings, *_ = two_builds
    customers = frozenset({'"tessera"."main"."customers"'})
    compiled = {
        "audience_lapsed_high_value": check.CompiledModel(
            'select customer_id, true as is_member from "tessera"."main"."customers"', customers
        ),
        "audience_evil": check.CompiledModel(
            'select customer_id, true as is_member from "tessera"."main"."customers";\n'
            'drop table "tessera"."main"."customers"',
            customers,
        ),
    }
    monkeypatch.setattr(check, "compiled_models", lambda *args, **kwargs: compiled)
    with pytest.raises(AudienceSqlRefused) as refused:
        check_audiences(settings, private=True)
    assert "audience evil: its model audience_evil (compiled SQL) holds 2 statements (SELECT, DROP)" in str(
        refused.value
    )
    stamp = settings.build_db.parent / "audience-check" / "passed.duckdb.json"
    assert not stamp.exists() or "audience_evil" not in stamp.read_text()


def test_world_days_are_in_last_season():
    assert dt.datetime(2025, 8, 1) <= ts(220) <= dt.datetime(2026, 5, 31)
