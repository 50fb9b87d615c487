"""Masked views show no source system's record id in clear (issue 12, item 8), on DuckDB and Postgres.

A small hand-made world: one planted customer with a shop account, an order with an item, a CRM contact,
Segment events and a support ticket, each with a distinctive id. After a real build, no column of any masked
view holds any of those ids (as a value or inside one), while the published models do; and the hashed ids
still join inside the masked schema (orders to order items)."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from typing import Any

import psycopg2
import pytest

from orchestration.build.pipeline import build
from orchestration.warehouse.connection import open_read_only
from tests.conftest import TEST_PG_DATABASE, require_postgres
from tests.worlds import crm_contact, identify, shop_customer, ticket, track, ts, world_settings, write_world

PG = {"host": "127.0.0.1", "port": 5432, "user": "postgres", "dbname": TEST_PG_DATABASE, "connect_timeout": 3}

SHOP_ID, ORDER_ID, ITEM_ID, TICKET_ID = 660044, 770011, 880022, 990033
PLANTED = [
    str(SHOP_ID),
    str(ORDER_ID),
    str(ITEM_ID),
    str(TICKET_ID),
    "crm-plant-553",
    "evt-plant-551",
    "idf-plant-552",
    "anon-plant-554",
]


def _world(data_dir) -> None:  # type: ignore[no-untyped-def]
    email = "pia.plant@masked.example"
    order = {
        "order_id": ORDER_ID,
        "customer_id": SHOP_ID,
        "email": email,
        "channel": "online",
        "store_id": "web",
        "currency": "GBP",
        "subtotal_price": 40.0,
        "total_discounts": 0.0,
        "total_price": 40.0,
        "financial_status": "paid",
        "created_at": ts(3),
    }
    item = {
        "order_item_id": ITEM_ID,
        "order_id": ORDER_ID,
        "product_id": "sku-1",
        "product_name": "Scarf",
        "category": "accessories",
        "quantity": 1,
        "price": 40.0,
    }
    write_world(
        data_dir,
        {
            "shop.customers": [
                shop_customer(SHOP_ID, "Pia", "Plant", email, "07700 900777"),
                shop_customer(5, "Olly", "Other", "olly@masked.example"),
            ],
            "shop.orders": [order],
            "shop.order_items": [item],
            "crm.contacts": [crm_contact("crm-plant-553", "Pia", "Plant", email)],
            "events.identifies": [identify("idf-plant-552", "anon-plant-554", str(SHOP_ID), email=email)],
            "events.tracks": [track("evt-plant-551", "anon-plant-554", str(SHOP_ID), "Product Viewed")],
            "support.tickets": [ticket(TICKET_ID, "Pia Plant", email, None)],
        },
    )


Query = Callable[[str], list[tuple[Any, ...]]]


@pytest.fixture(scope="module", params=["duckdb", "postgres"])
def warehouse(request, tmp_path_factory, dbt_manifest) -> Iterator[tuple[Query, str, str]]:
    """(query, published schema, masked schema) of a built world on each warehouse."""
    target = request.param
    root = tmp_path_factory.mktemp(f"masked_ids_{target}")
    schema = f"masked_ids_{uuid.uuid4().hex[:8]}"
    if target == "postgres":
        require_postgres()
    settings = world_settings(root, target=target, pg_schema=schema)
    _world(settings.data_dir)
    try:
        assert build(settings).published
        if target == "duckdb":

            def query(sql: str) -> list[tuple[Any, ...]]:
                con = open_read_only(settings.published_db)
                try:
                    return con.execute(sql).fetchall()
                finally:
                    con.close()

            yield query, "main", "masked"
        else:

            def query(sql: str) -> list[tuple[Any, ...]]:
                with psycopg2.connect(**PG) as con, con.cursor() as cur:
                    cur.execute(sql)
                    return cur.fetchall()

            yield query, schema, f"{schema}_masked"
    finally:
        if target == "postgres":
            with psycopg2.connect(**PG) as con, con.cursor() as cur:
                for name in (schema, f"{schema}_build", f"{schema}_masked", f"{schema}_build_masked"):
                    cur.execute(f"drop schema if exists {name} cascade")


def _holding(query: Query, schema: str, views: bool) -> dict[str, set[str]]:
    """Which planted ids each relation of `schema` holds, in any column (cast to text, as a substring)."""
    kind = "VIEW" if views else "BASE TABLE"
    relations = query(
        "select table_name from information_schema.tables "
        f"where table_schema = '{schema}' and table_type = '{kind}' order by 1"
    )
    found: dict[str, set[str]] = {}
    for (relation,) in relations:
        columns = [
            c
            for (c,) in query(
                "select column_name from information_schema.columns "
                f"where table_schema = '{schema}' and table_name = '{relation}'"
            )
        ]
        checks = ", ".join(
            "count(*) filter (where "
            + " or ".join(f"strpos(cast(\"{c}\" as varchar), '{planted}') > 0" for c in columns)
            + ")"
            for planted in PLANTED
        )
        (counts,) = query(f'select {checks} from "{schema}"."{relation}"')
        held = {planted for planted, count in zip(PLANTED, counts, strict=True) if count}
        if held:
            found[relation] = held
    return found


def test_no_masked_view_shows_a_planted_record_id(warehouse):
    query, published, masked = warehouse
    clear = _holding(query, published, views=False)
    # The published models do hold them: the check can see.
    assert {"orders", "order_items", "events", "customer_source_records"} <= set(clear), clear
    assert set().union(*clear.values()) >= {str(ORDER_ID), str(ITEM_ID), "evt-plant-551", "crm-plant-553"}
    views = {
        v
        for (v,) in query(f"select table_name from information_schema.views where table_schema = '{masked}'")
    }
    assert {"orders", "order_items", "events", "identity_links", "customer_source_records"} <= views
    assert _holding(query, masked, views=True) == {}


def test_hashed_record_ids_still_join_inside_the_masked_schema(warehouse):
    query, published, masked = warehouse
    join = (
        'select count(*) from "{0}".orders as o inner join "{0}".order_items as i on o.order_id = i.order_id'
    )
    [(clear,)] = query(join.format(published))
    [(hashed,)] = query(join.format(masked))
    assert clear == 1 and hashed == clear
    [(shown,)] = query(f'select order_id from "{masked}".orders')
    assert len(shown) == 32 and shown != str(ORDER_ID)
