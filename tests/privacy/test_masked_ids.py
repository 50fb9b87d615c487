"""Masked views show no source system's record id and no customer id in clear (issue 12, item 8), on DuckDB
and Postgres, and the masked file neither.

A small hand-made world: one planted customer with a shop account, an order with an item, a CRM contact,
Segment events and a support ticket, each with a distinctive id, and a second person known only by the email of a
support ticket. On DuckDB it is a copy of the privacy world (tests/privacy/world.py), which holds other
modules' people beside them; on Postgres the Postgres privacy world (tests/privacy/world.py), which holds the
Postgres erasure's people beside them. After a real build, no column of any masked view holds any of those ids
(as a value or inside one), while the published models do; no customer id is shown either, though the
email-only person's id can be computed from her email; and the hashed ids still join inside the masked schema
(orders to order items, customers to their identity links)."""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from pathlib import Path
from typing import Any, NamedTuple

import duckdb
import psycopg2
import pytest

from orchestration.privacy.masking import export_masked_file
from orchestration.warehouse.connection import open_read_only
from tests.conftest import TEST_PG_DATABASE
from tests.privacy.world import MASKED_EVE_EMAIL as EVE_EMAIL
from tests.privacy.world import MASKED_ITEM_ID as ITEM_ID
from tests.privacy.world import MASKED_ORDER_ID as ORDER_ID
from tests.privacy.world import MASKED_PLANTED as PLANTED
from tests.privacy.world import copy_of_privacy_world

PG = {"host": "127.0.0.1", "port": 5432, "user": "postgres", "dbname": TEST_PG_DATABASE, "connect_timeout": 3}

Query = Callable[[str], list[tuple[Any, ...]]]


class World(NamedTuple):
    query: Query
    published: str
    masked: str
    # DuckDB only: the published file, from which the analysts' masked file is written.
    published_db: Path | None


def masked_customer_id(world: World, customer_id: str) -> str:
    """What the masked views show for `customer_id`: the keyed hash of every masked column (md5 of the
    warehouse's masking salt and the value), so a test can look a masked row up by a clear id it knows."""
    [(masked,)] = world.query(
        f"select md5(concat(salt, '{customer_id}')) from \"{world.published}\".privacy_masking_salt"
    )
    return str(masked)


@pytest.fixture(
    scope="module",
    # The Postgres world is shared with tests/privacy/test_erasure_postgres.py (tests/conftest.py,
    # privacy_pg_world): those tests run on the worker that builds it.
    params=["duckdb", pytest.param("postgres", marks=pytest.mark.xdist_group("privacy_pg"))],
)
def warehouse(request, private_dbt_target, tmp_path_factory) -> World:
    """The published and masked schemas of a built world on each warehouse: on DuckDB a copy of the privacy
    world (built once per test run, tests/privacy/world.py), on Postgres the Postgres privacy world (built once
    per test run, tests/privacy/world.py, postgres_privacy_world), this module's people beside the Postgres
    erasure's. The DuckDB copy's builds look for a dbt parse to start from in this module's own target folder
    (private_dbt_target), not the project's target/, so the module runs on any pytest-xdist worker. The folder
    stays unparsed: a parse for the session's warehouse file would not spare these builds theirs."""
    if request.param == "duckdb":
        settings = copy_of_privacy_world(tmp_path_factory, tmp_path_factory.mktemp("masked_ids_duckdb"))

        def query(sql: str) -> list[tuple[Any, ...]]:
            con = open_read_only(settings.published_db)
            try:
                return con.execute(sql).fetchall()
            finally:
                con.close()

        return World(query, "main", "masked", settings.published_db)
    _, schema, _ = request.getfixturevalue("privacy_pg_world")

    def pg_query(sql: str) -> list[tuple[Any, ...]]:
        with psycopg2.connect(**PG) as con, con.cursor() as cur:
            cur.execute(sql)
            return cur.fetchall()

    return World(pg_query, schema, f"{schema}_masked", None)


def _holding(query: Query, schema: str, views: bool, needles: list[str] = PLANTED) -> dict[str, set[str]]:
    """Which of `needles` each relation of `schema` holds, in any column (cast to text, as a substring)."""
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
            for planted in needles
        )
        (counts,) = query(f'select {checks} from "{schema}"."{relation}"')
        held = {planted for planted, count in zip(needles, counts, strict=True) if count}
        if held:
            found[relation] = held
    return found


def test_no_masked_view_shows_a_planted_record_id(warehouse):
    query, published, masked, _ = warehouse
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
    query, published, masked, _ = warehouse
    join = (
        'select count(*) from "{0}".orders as o inner join "{0}".order_items as i on o.order_id = i.order_id'
    )
    [(clear,)] = query(join.format(published))
    [(hashed,)] = query(join.format(masked))
    assert clear == 1 and hashed == clear
    [(shown,)] = query(f'select order_id from "{masked}".orders')
    assert len(shown) == 32 and shown != str(ORDER_ID)


def test_no_customer_id_is_shown_in_clear_though_one_can_be_computed_from_an_email(warehouse, tmp_path):
    """A new customer's id is `cus_` + 16 hex digits of the unkeyed md5 of their founding identifier, so whoever
    knows Eve's email knows her customer id. No masked view, and not the masked file, may show it (or any other
    customer's id): there it would find her rows."""
    query, published, masked, published_db = warehouse
    computed = "cus_" + hashlib.md5(f"email:{EVE_EMAIL}".encode()).hexdigest()[:16]
    assert query(f"select customer_id from \"{published}\".customers where email = '{EVE_EMAIL}'") == [
        (computed,)
    ]
    customer_ids = sorted(c for (c,) in query(f'select customer_id from "{published}".customers'))
    assert len(customer_ids) >= 3 and computed in customer_ids
    # The published models hold them (the check can see), the masked views none, as a value or inside one.
    clear = _holding(query, published, views=False, needles=customer_ids)
    assert {"customers", "customer_identifiers", "identity_links", "events", "orders"} <= set(clear), clear
    assert _holding(query, masked, views=True, needles=customer_ids) == {}
    if published_db is not None:
        path = tmp_path / "tessera_masked.duckdb"
        export_masked_file(published_db, path)
        con = duckdb.connect(str(path), read_only=True)
        try:

            def in_file(sql: str) -> list[tuple[Any, ...]]:
                return con.execute(sql).fetchall()

            [(tables,)] = in_file(
                "select count(*) from information_schema.tables where table_schema = 'masked'"
            )
            assert tables > 10
            assert _holding(in_file, "masked", views=False, needles=customer_ids) == {}
        finally:
            con.close()


def test_masked_customer_ids_still_join_inside_the_masked_schema(warehouse):
    """Every customer id column shows the same keyed pseudonym, so masked customers still join their masked
    identifiers, identity links and events; a clear id known to a test finds its masked row through the key."""
    world = warehouse
    query, published, masked, _ = world
    joins = {
        table: (
            f'select count(*) from "{{0}}".customers as c inner join "{{0}}".{table} as t '
            "on c.customer_id = t.customer_id"
        )
        for table in ("customer_identifiers", "identity_links", "customer_source_records", "events", "orders")
    }
    for table, join in joins.items():
        [(clear,)] = query(join.format(published))
        [(hashed,)] = query(join.format(masked))
        assert clear > 0 and hashed == clear, table
    [(eve,)] = query(f"select customer_id from \"{published}\".customers where email = '{EVE_EMAIL}'")
    pseudonym = masked_customer_id(world, eve)
    assert len(pseudonym) == 32 and pseudonym != eve
    assert query(f"select customer_id from \"{masked}\".customers where customer_id = '{pseudonym}'") == [
        (pseudonym,)
    ]
    [(identifiers,)] = query(
        f"select count(*) from \"{masked}\".customer_identifiers where customer_id = '{pseudonym}'"
    )
    assert identifiers == 1
