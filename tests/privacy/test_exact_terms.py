"""A short or all-digit term (shop customer 90417) is compared only with the columns that hold a person's
identifiers in the tables a source writes (orchestration/privacy/id_columns.py): erasing Ann, shop customer
90417, leaves Bob's rows whose order id, order name or page name is the text '90417'. The scans count those
values apart (left on purpose), and the access export lists Ann's loader rows with the same matching.

One tiny hand-made world, written the same way into a DuckDB file and into Postgres schemas: raw tables of
the demo contract (raw_events.tracks, raw_shop.orders and order_items), a Segment loader schema (identifies,
a per-event order_completed table, pages), a Fivetran Shopify schema (customer, order), and the three
published tables the export reads; a HubSpot preset in another database, out of reach. Shopify's order
lines and order discount codes name no person (only order_id), nor do the demo's order items: they go with
her orders, found through them."""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any

import duckdb
import psycopg2
import pytest

from orchestration.person_sources.config import PersonSourcesConfig
from orchestration.privacy import postgres as pg
from orchestration.privacy.backend_duckdb import DuckDBErasure, _erase_in_build
from orchestration.privacy.cluster import PersonSourceMatch
from orchestration.privacy.export import collect
from orchestration.privacy.id_columns import (
    PRESET_ID_COLUMNS,
    IdentifierColumns,
    identifier_columns,
    preset_id_columns,
)
from orchestration.privacy.scan import ParentLink, match_condition, scan_tables
from orchestration.settings import Settings
from orchestration.source_presets import PRESETS
from orchestration.source_presets.config import PRESETS_FILE_ENV
from tests.conftest import TEST_PG_DATABASE, require_postgres
from tests.worlds import world_settings

PG = {"host": "127.0.0.1", "port": 5432, "user": "postgres", "dbname": TEST_PG_DATABASE, "connect_timeout": 3}
ANN_ID = "90417"  # Ann's shop customer id, and the text of Bob's order id, order name and page name
TERMS = [ANN_ID, "ann.exact@example.org", "anon-ann-7781", "cust-ann-000001"]
NO_CONFIG = PersonSourcesConfig(sources=[], identifier_types={}, declared_in={})


def _presets(root: Path, monkeypatch: pytest.MonkeyPatch, segment: str, shopify: str) -> None:
    path = root / "presets.yml"
    path.write_text(
        "sources:\n"
        f"  events: {{preset: segment, schema: {segment}}}\n"
        f"  shop: {{preset: fivetran, schema: {shopify}}}\n"
        "  crm: {preset: fivetran_hubspot, database: crm_warehouse, schema: hubspot}\n"
    )
    monkeypatch.setenv(PRESETS_FILE_ENV, str(path))


#: The demo raw contract's tables (docs/raw_schema.md), per raw schema.
RAW: dict[str, tuple[str, ...]] = {
    "raw_events": (
        "create schema raw_events",
        # order_id as the text Segment writes.
        "create table raw_events.tracks (id varchar, anonymous_id varchar, user_id varchar, event varchar, "
        "order_id varchar)",
        "insert into raw_events.tracks values ('t1', 'anon-ann-7781', '90417', 'product_viewed', null), "
        "('t2', 'anon-bob-5512', '55', 'order_completed', '90417')",
    ),
    "raw_shop": (
        "create schema raw_shop",
        # Her orders 1 and 3 (3 without an email: by her id); Bob's order 90417 is not hers.
        "create table raw_shop.orders (order_id bigint, customer_id bigint, email varchar, channel varchar)",
        "insert into raw_shop.orders values (1, 90417, 'ann.exact@example.org', 'online'), "
        "(3, 90417, null, 'online'), (2, 55, 'bob@example.org', 'online'), (90417, 55, null, 'store')",
        # An order item names no person (RawTable.parent: through its order).
        "create table raw_shop.order_items (order_item_id bigint, order_id bigint, product_id varchar, "
        "product_name varchar, quantity integer)",
        "insert into raw_shop.order_items values (11, 1, 'p-mug', 'Mug', 1), (12, 1, 'p-tea', 'Tea', 2), "
        "(31, 3, 'p-pot', 'Pot', 1), (21, 2, 'p-mug', 'Mug', 1), (41, 90417, 'p-cup', 'Cup', 1)",
    ),
}


def _world(
    execute: Any, segment: str, shopify: str, published: str, raw: tuple[str, ...] = tuple(RAW)
) -> None:
    """Ann (shop customer 90417) and Bob (55), whose order id / order name / page name is '90417'; the demo
    raw schemas `raw`."""
    for statement in (
        *(statement for schema in raw for statement in RAW[schema]),
        f"create schema {segment}",
        f"create schema {shopify}",
        f"create table {segment}.identifies (id varchar, anonymous_id varchar, user_id varchar, email varchar)",
        f"insert into {segment}.identifies values ('i1', 'anon-ann-7781', '90417', ' Ann.Exact@Example.org'), "
        "('i2', 'anon-bob-5512', '55', 'bob@example.org')",
        f"create table {segment}.order_completed (id varchar, anonymous_id varchar, user_id varchar, "
        "order_id varchar, context_page_path varchar)",
        f"insert into {segment}.order_completed values ('o1', 'anon-x', '90417', 'ord-1', '/checkout'), "
        "('o2', 'anon-bob-5512', '55', '90417', '/checkout')",
        f"create table {segment}.pages (id varchar, anonymous_id varchar, user_id varchar, name varchar)",
        f"insert into {segment}.pages values ('p1', 'anon-bob-5512', '55', '90417')",
        # Fivetran writes Shopify's ids as numbers: the person is found there by email, or by her id in a
        # column declared as an identifier.
        f"create table {shopify}.customer (id bigint, email varchar, first_name varchar)",
        f"insert into {shopify}.customer values (90417, 'ann.exact@example.org', 'Ann'), (55, 'bob@example.org', 'Bob')",
        f'create table {shopify}."order" (id bigint, customer_id bigint, email varchar, name varchar)',
        # Ann's second order carries no email: it is found by her id in the declared customer_id column
        # (bigint); Bob's order whose own id is 90417 is not hers.
        f"""insert into {shopify}."order" values (1, 90417, 'ann.exact@example.org', '#1001'), """
        "(2, 55, 'bob@example.org', '90417'), (3, 90417, null, '#1003'), (90417, 55, null, '#1004')",
        # Children of an order (order_id only, Fivetran's documented columns): hers go through her orders; Bob's
        # order 90417's line is not hers, though its order_id is her customer id.
        f"create table {shopify}.order_line (id bigint, order_id bigint, title varchar, quantity integer)",
        f"insert into {shopify}.order_line values (11, 1, 'Mug', 1), (12, 1, 'Tea', 2), (31, 3, 'Pot', 1), "
        "(21, 2, 'Mug', 1), (41, 90417, 'Cup', 1)",
        f"create table {shopify}.order_discount_code (order_id bigint, index integer, code varchar)",
        f"insert into {shopify}.order_discount_code values (1, 1, 'WELCOME10'), (2, 1, 'SPRING')",
        # The published tables the export reads.
        f"create schema if not exists {published}",
        f"create table {published}.customer_identifiers (customer_id varchar, identifier_type varchar, "
        "identifier_value varchar)",
        f"insert into {published}.customer_identifiers values "
        "('cust-ann-000001', 'shop_customer_id', '90417'), ('cust-ann-000001', 'email', 'ann.exact@example.org'), "
        "('cust-ann-000001', 'anonymous_id', 'anon-ann-7781'), ('cust-bob-000002', 'shop_customer_id', '55')",
        f"create table {published}.customers (customer_id varchar, first_name varchar, last_name varchar)",
        f"insert into {published}.customers values ('cust-ann-000001', 'Ann', 'Exact'), "
        "('cust-bob-000002', 'Bob', 'Kept')",
        f"create table {published}.quarantined_rows (source_name varchar, raw_record varchar)",
    ):
        execute(statement)


RAW_IDS = {"raw_events.tracks": "id", "raw_shop.orders": "order_id", "raw_shop.order_items": "order_item_id"}


def _ids(
    execute_fetch: Any, segment: str, shopify: str, raw: tuple[str, ...] = tuple(RAW)
) -> dict[str, list[str]]:
    demo = {
        name: sorted(str(r[0]) for r in execute_fetch(f"select {column} from {name}"))
        for name, column in RAW_IDS.items()
        if name.split(".")[0] in raw
    }
    tables = {
        "identifies": f"{segment}.identifies",
        "order_completed": f"{segment}.order_completed",
        "pages": f"{segment}.pages",
        "customer": f"{shopify}.customer",
        "order": f'{shopify}."order"',
        "order_line": f"{shopify}.order_line",
        "order_discount_code": f"{shopify}.order_discount_code",
    }
    # order_discount_code has no id of its own (order_id and index).
    return demo | {
        name: sorted(
            str(r[0])
            for r in execute_fetch(f"select {'order_id' if 'discount' in name else 'id'} from {relation}")
        )
        for name, relation in tables.items()
    }


# What stays after Ann's erase: Bob's rows, also those whose order id, order name or page name is '90417'.
BOB_ONLY = {
    "raw_events.tracks": ["t2"],
    "raw_shop.orders": ["2", "90417"],
    "raw_shop.order_items": ["21", "41"],  # Bob's order 90417's item too
    "identifies": ["i2"],
    "order_completed": ["o2"],
    "pages": ["p1"],
    "customer": ["55"],
    "order": ["2", "90417"],
    "order_line": ["21", "41"],
    "order_discount_code": ["2"],
}


def test_an_exact_term_matches_only_the_declared_identifier_columns() -> None:
    con = duckdb.connect()
    con.execute("create table t (user_id varchar, order_id varchar, note varchar)")
    con.execute(
        "insert into t values ('90417', null, null), (null, '90417', null), (null, null, 'x ann.exact@example.org')"
    )
    columns = [("user_id", "VARCHAR"), ("order_id", "VARCHAR"), ("note", "VARCHAR")]
    precise = match_condition(columns, TERMS, frozenset({"user_id"}))
    every = match_condition(columns, TERMS)
    assert con.execute(
        f"select count(*) filter (where {precise}), count(*) filter (where {every}) from t"
    ).fetchone() == (
        2,  # Ann's user id, and her email inside free text (a substring term is searched everywhere)
        3,  # without a declaration, Bob's order id is taken for her
    )
    # Every preset a source can be read with declares its identifier columns.
    for system, presets in PRESETS.items():
        for preset in presets:
            assert preset == "demo" or preset in PRESET_ID_COLUMNS, (system, preset)
    assert preset_id_columns("segment", "order_completed") == {"anonymous_id", "user_id"}
    assert preset_id_columns("fivetran", "ORDER") == {"customer_id", "email", "phone"}
    # The demo raw tables' children (RawTable.parent) are reached through their parent's raw id.
    links = IdentifierColumns.of([])
    assert links.parent("raw_shop", "order_items") == ParentLink("raw_shop", "orders", "order_id", "order_id")
    assert links.parent("raw_support", "survey_responses") == ParentLink(
        "raw_support", "tickets", "ticket_id", "ticket_id"
    )
    assert links.parent("raw_shop", "orders") is None and links.parent("main", "order_items") is None


@pytest.fixture
def duck_world(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[Settings, Path]:
    _presets(tmp_path, monkeypatch, "segment_prod", "shopify")
    settings = world_settings(tmp_path)
    settings.published_db.parent.mkdir(parents=True, exist_ok=True)
    con = duckdb.connect(str(settings.published_db))
    try:
        _world(con.execute, "segment_prod", "shopify", "main")
    finally:
        con.close()
    return settings, settings.published_db


def test_duckdb_erase_by_a_short_id_leaves_another_persons_rows(duck_world: tuple[Settings, Path]) -> None:
    settings, path = duck_world
    # Before: the proof's scan (the check before publishing scans the same way) finds her orders' lines and
    # the demo's order items through her orders.
    before, _, _, _ = DuckDBErasure(settings, warehouse=None).prove_published(TERMS, NO_CONFIG)  # type: ignore[arg-type]
    assert (
        before["warehouse:shopify.order_line"],
        before["warehouse:shopify.order_discount_code"],
        before["warehouse:raw_shop.orders"],
        before["warehouse:raw_shop.order_items"],
    ) == (3, 1, 2, 3)
    con = duckdb.connect(str(path))
    ids = identifier_columns(settings)
    try:
        edit = _erase_in_build({}, PersonSourceMatch(), TERMS, NO_CONFIG, [], ids)
        deleted = edit(con)["deleted_rows"]
        assert {k: v for k, v in deleted.items() if "." in k} == {
            "raw_events.tracks": 1,
            "raw_shop.orders": 2,  # her order without an email too, by her id
            "raw_shop.order_items": 3,  # the items of her two orders, through them (before the orders)
            "segment_prod.identifies": 1,
            "segment_prod.order_completed": 1,
            "shopify.customer": 1,
            "shopify.order": 2,  # her order without an email too, by her id
            "shopify.order_line": 3,  # the lines of her two orders, through them
            "shopify.order_discount_code": 1,
        }
        assert _ids(lambda sql: con.execute(sql).fetchall(), "segment_prod", "shopify") == BOB_ONLY
        scans = {s.table: s for s in scan_tables(con, TERMS, id_columns=ids, parents=ids.parent)}
    finally:
        con.close()
    # The proof's scan: no hit, and Bob's '90417' values counted apart, as left on purpose.
    assert {t: s.hits for t, s in scans.items() if s.hits} == {}
    assert {t: s.outside for t, s in scans.items() if s.outside} == {
        "raw_events.tracks": 1,
        "segment_prod.order_completed": 1,
        "segment_prod.pages": 1,
        "shopify.order": 1,
    }


def _assert_export(data: dict[str, Any], segment: str, shopify: str) -> None:
    loader = {
        table: sorted(str(row["id"]) for row in rows)
        for table, rows in data["loader_records"].items()
        if not table.endswith("order_discount_code")
    }
    assert loader == {
        f"{segment}.identifies": ["i1"],
        f"{segment}.order_completed": ["o1"],  # not Bob's o2, whose order id is '90417'
        f"{shopify}.customer": ["90417"],
        f"{shopify}.order": [
            "1",
            "3",
        ],  # her order without an email too; not Bob's named '90417' or with id 90417
        f"{shopify}.order_line": ["11", "12", "31"],  # her orders' lines, not Bob's order 90417's
    }
    codes = data["loader_records"][f"{shopify}.order_discount_code"]
    assert codes == [{"order_id": 1, "index": 1, "code": "WELCOME10"}]
    order = data["loader_records"][f"{shopify}.order"][0]
    assert order == {"id": 1, "customer_id": 90417, "email": "ann.exact@example.org", "name": "#1001"}
    assert list(data["loader_sources_not_searched"]) == [
        "crm preset fivetran_hubspot (crm_warehouse.hubspot, prefix '')"
    ]


def test_duckdb_export_lists_the_persons_loader_rows(duck_world: tuple[Settings, Path]) -> None:
    settings, _ = duck_world
    data = collect(settings, "shop_customer_id", ANN_ID)
    assert data["customer_ids"] == ["cust-ann-000001"]
    _assert_export(data, "segment_prod", "shopify")


@pytest.fixture
def pg_world(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):  # type: ignore[no-untyped-def]
    """The same world on the server, each schema named for this test. The raw schemas' names are fixed
    (raw_events, raw_shop) and shared by the database's worlds: a raw schema's tables are part of this world
    only when no other world has that schema (as in a fresh database), and are dropped with it."""
    require_postgres()
    suffix = uuid.uuid4().hex[:8]
    segment, shopify, published = f"seg_{suffix}", f"shp_{suffix}", f"privacy_exact_{suffix}"
    settings = world_settings(tmp_path, "postgres", pg_schema=published)
    _presets(tmp_path, monkeypatch, segment, shopify)
    with psycopg2.connect(**PG) as con, con.cursor() as cur:
        cur.execute(
            "select schema_name from information_schema.schemata where schema_name = any(%s)", [list(RAW)]
        )
        taken = {name for (name,) in cur.fetchall()}
        raw = tuple(schema for schema in RAW if schema not in taken)
        _world(cur.execute, segment, shopify, published, raw)
        cur.execute(f"create schema {published}_build")
    try:
        yield settings, segment, shopify, raw
    finally:
        with psycopg2.connect(**PG) as con, con.cursor() as cur:
            for schema in (
                segment,
                shopify,
                published,
                f"{published}_build",
                *raw,
            ):
                cur.execute(f"drop schema if exists {schema} cascade")


def test_postgres_erase_and_export_by_a_short_id(pg_world) -> None:  # type: ignore[no-untyped-def]
    settings, segment, shopify, raw = pg_world
    data = collect(settings, "shop_customer_id", ANN_ID)
    _assert_export(data, segment, shopify)
    mine = (segment, shopify, *raw)
    # Before: the proof's scan and the check before publishing (pg.scan) find the demo's order items through
    # her orders, like Shopify's order lines.
    before = {s.table: s.hits for s in pg.scan(settings, TERMS) if s.table.startswith(mine) and s.hits}
    assert {t: h for t, h in before.items() if "order" in t} == {
        **({"raw_shop.orders": 2, "raw_shop.order_items": 3} if "raw_shop" in raw else {}),
        f"{shopify}.order": 2,
        f"{shopify}.order_line": 3,
        f"{shopify}.order_discount_code": 1,
        f"{segment}.order_completed": 1,
    }

    deleted, notes, loader_notes = pg.delete_in_warehouse(
        settings, NO_CONFIG, {}, PersonSourceMatch(), TERMS, []
    )
    assert {k: v for k, v in deleted.items() if k.startswith(mine)} == {
        **({"raw_events.tracks": 1} if "raw_events" in raw else {}),
        **({"raw_shop.orders": 2, "raw_shop.order_items": 3} if "raw_shop" in raw else {}),
        f"{segment}.identifies": 1,
        f"{segment}.order_completed": 1,
        f"{shopify}.customer": 1,
        f"{shopify}.order": 2,
        f"{shopify}.order_line": 3,
        f"{shopify}.order_discount_code": 1,
    }
    assert notes == {} and loader_notes == {}
    with psycopg2.connect(**PG) as con, con.cursor() as cur:

        def fetch(sql: str) -> list[Any]:
            cur.execute(sql)
            return cur.fetchall()

        assert _ids(fetch, segment, shopify, raw) == {
            k: v for k, v in BOB_ONLY.items() if "." not in k or k.split(".")[0] in raw
        }
    scans = {s.table: s for s in pg.scan(settings, TERMS) if s.table.startswith(mine)}
    assert {t: s.hits for t, s in scans.items() if s.hits} == {}
    assert {t: s.outside for t, s in scans.items() if s.outside} == {
        **({"raw_events.tracks": 1} if "raw_events" in raw else {}),
        f"{segment}.order_completed": 1,
        f"{segment}.pages": 1,
        f"{shopify}.order": 1,
    }
