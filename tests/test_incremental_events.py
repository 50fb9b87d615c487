"""The incremental marts, `events` (models/marts/events/events.sql), `orders`, `order_items` and
`consent_history` (models/marts/orders/, models/marts/consent/): a chain of builds, each placing only what was
loaded since the last one (less the lookback) and what changed customer, ends with the tables a full refresh
gives, on DuckDB and on Postgres. The world is tests/segment_world.py (a loader's real load times: the demo
preset's files are stamped whole at every load) with shop orders, till transactions and consent decisions
written into the raw tables with load times of their own, and its increments bring what a day of loads does:
new calls, a message delivered again, a call whose properties row lands a load later, a load that commits out
of order inside the lookback, a late order line, a refund, new consent decisions, and an identify call and an
order that merge customers, so that an event, an order and a consent decision placed two builds earlier change
customer; then a suppression, whose device's events and whose email's orders, lines and decisions leave the
marts as they leave staging. DuckDB builds the chain one increment at a time; Postgres takes the increments in
one build (the SQL is the same; its builds are the slow ones). The builds are the pipeline's phased build of
the models and seeds the marts read, in the build database (no tests, no publish:
tests/test_incremental_staging.py runs the pipeline whole)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from pathlib import Path
from typing import Any

import duckdb
import pytest

from orchestration.build.pipeline import build_models
from orchestration.privacy.backend import SUPPRESSION_TABLE
from orchestration.privacy.hashing import suppression_hash
from orchestration.settings import Settings
from orchestration.source_presets import PRESETS_FILE_ENV
from orchestration.warehouse.registry import get_warehouse
from tests import segment_world
from tests.conftest import require_postgres
from tests.worlds import world_settings, write_world

SELECT = ["+events", "+order_items", "+consent_current"]
MARTS = ("events", "orders", "order_items", "consent_history", "consent_current")
LOADER_FILE = "loader/segment.duckdb"
_T = segment_world._track  # noqa: SLF001 (the world's own row builders)
_C = segment_world._call  # noqa: SLF001

Query = Callable[[str], list[tuple[Any, ...]]]


def _loaded(row: dict[str, Any], uuid_ts: str, received_at: str | None = None) -> dict[str, Any]:
    return row | {"uuid_ts": uuid_ts} | ({"received_at": received_at} if received_at else {})


# A device no login has been seen on yet: its own customer until the third increment ties it to Bob.
STRANGER = _T("m-stranger", 8, "a-stranger", None, "product_viewed", "Product Viewed")
LATE = _T("m-late", 8, "a-ann", "7", "product_viewed", "Product Viewed")
INCREMENTS: list[dict[str, list[dict[str, Any]]]] = [
    {
        "tracks": [
            _loaded(_T("m-new", 8, "a-ann", "7", "product_viewed", "Product Viewed"), "2025-03-08 11:00:00"),
            _loaded(STRANGER, "2025-03-08 11:00:00"),
            # Its properties row lands a load later (the next increment).
            _loaded(LATE, "2025-03-08 11:00:00"),
            # The world's first message, delivered again and received later: a duplicate, its first copy stays.
            _loaded(segment_world.VIEWED, "2025-03-08 11:00:00", received_at="2025-03-08 10:00:00"),
        ],
    },
    {
        "product_viewed": [
            _loaded(LATE | {"product_id": "P-3", "category": "Socks", "price": 5.0}, "2025-03-09 11:00:00")
        ],
        "tracks": [
            _loaded(_T("m-day9", 9, "a-bob", "8", "product_viewed", "Product Viewed"), "2025-03-09 11:00:00"),
            # A load that committed after the last build's, inside the lookback (6 hours before its latest load).
            _loaded(_T("m-straggler", 8, "a-bob", "8", "order_completed", "Order Completed"), "2025-03-08 07:00:00"),
        ],
    },
    {
        # Bob logs in on the stranger's device: it merges into his (older) customer, and m-stranger, placed two
        # builds ago and loaded long before the lookback, moves with it.
        "identifies": [_loaded(_C("m-merge", 10, "a-stranger", "8", email="bob.ray@proton.me"), "2025-03-10 11:00:00")],
        "pages": [_loaded(_C("m-page-10", 10, "a-ann", "7", path="/hats", title="Hats"), "2025-03-10 11:00:00")],
    },
]  # fmt: skip


def _order(order_id: int, customer: int | None, email: str, day: int, status: str = "paid") -> dict[str, Any]:
    return {"order_id": order_id, "customer_id": customer, "email": email, "channel": "online", "store_id": None,
            "currency": "GBP", "subtotal_price": 30.0, "total_discounts": 0.0, "total_price": 30.0,
            "financial_status": status, "created_at": f"2025-03-{day:02d} 10:00:00",
            "_loaded_at": f"2025-03-{day:02d} 11:00:00"}  # fmt: skip


def _line(item_id: int, order_id: int, quantity: int, loaded_at: str) -> dict[str, Any]:
    return {"order_item_id": item_id, "order_id": order_id, "product_id": f"P-{item_id}", "product_name": "Hat",
            "category": "Apparel", "quantity": quantity, "price": 10.0, "_loaded_at": loaded_at}  # fmt: skip


def _decision(
    event_id: str, subject: tuple[str, str], purpose: str, status: str, at: str, loaded_at: str
) -> dict[str, Any]:
    return {"consent_event_id": event_id, "subject_type": subject[0], "subject_value": subject[1], "purpose": purpose,
            "channel": "web", "status": status, "occurred_at": at, "source": "preference_centre",
            "_loaded_at": loaded_at}  # fmt: skip


def _till(transaction_id: str, loaded_at: str) -> dict[str, Any]:
    return {"transaction_id": transaction_id, "store_id": "S-1", "amount": 12.5, "currency": "GBP", "item_count": 1,
            "transacted_at": loaded_at.replace("11:00", "09:00"), "_loaded_at": loaded_at}  # fmt: skip


ANN, BOB, CY = ("shop_customer_id", "7"), ("shop_customer_id", "8"), ("shop_customer_id", "9")
ANN_EMAIL, GUEST = "ann.lee@fastmail.com", "guest.buyer@mail.com"
# The other systems' raw rows, written into the warehouse's raw tables (raw_<system>.<table>) with load times
# of their own after the load. Ann's order 5001 and Bob's 5003; a guest's order 5002 and a decision about the
# guest's email, their own customer until the third increment ties the email to Bob; Cy's order 5006 and
# decision, which no increment touches, loaded long before the lookback; anonymous till sales.
RAW: dict[str, list[dict[str, Any]]] = {
    "raw_shop.orders": [
        _order(5001, 7, ANN_EMAIL, 2),
        _order(5002, None, GUEST, 3),
        _order(5003, 8, "bob.ray@proton.me", 3),
        _order(5006, 9, "cy.diaz@posteo.de", 1),
    ],
    "raw_shop.order_items": [
        _line(1, 5001, 1, "2025-03-02 11:00:00"),
        _line(2, 5001, 2, "2025-03-02 11:00:00"),
        _line(3, 5002, 1, "2025-03-03 11:00:00"),
        _line(4, 5003, 1, "2025-03-03 11:00:00"),
        _line(7, 5006, 1, "2025-03-01 11:00:00"),
    ],
    "raw_pos.transactions": [_till("T-1", "2025-03-01 11:00:00"), _till("T-0", "2025-03-04 11:00:00")],
    "raw_consent.consent_events": [
        _decision("c-ann", ANN, "email_marketing", "granted", "2025-03-02 10:00:00", "2025-03-02 11:00:00"),
        _decision(
            "c-guest",
            ("email", GUEST),
            "email_marketing",
            "granted",
            "2025-03-03 10:00:00",
            "2025-03-03 11:00:00",
        ),
        _decision("c-bob", BOB, "email_marketing", "denied", "2025-03-02 10:00:00", "2025-03-02 11:00:00"),
        _decision("c-cy", CY, "analytics", "granted", "2025-03-06 10:00:00", "2025-03-06 11:00:00"),
    ],
}
# Beside each increment of the events: rows for the raw tables, and updates made in place (an upserting loader).
RAW_INCREMENTS: list[tuple[dict[str, list[dict[str, Any]]], list[str]]] = [
    (
        {
            # A line of Ann's order lands days after it; a new order; a till sale; Ann withdraws by email.
            "raw_shop.order_items": [_line(5, 5001, 1, "2025-03-08 11:00:00")],
            "raw_shop.orders": [_order(5004, 7, ANN_EMAIL, 8)],
            "raw_pos.transactions": [_till("T-2", "2025-03-08 11:00:00")],
            "raw_consent.consent_events": [
                _decision("c-ann-withdrawn", ("email", ANN_EMAIL), "email_marketing", "withdrawn", "2025-03-07 10:00:00",
                          "2025-03-08 11:00:00")],
        },
        [],
    ),
    (
        # Ann's sms decision, loaded inside the lookback before the last build's latest load.
        {"raw_consent.consent_events": [
            _decision("c-ann-sms", ANN, "sms_marketing", "granted", "2025-03-08 06:00:00", "2025-03-08 07:00:00")]},
        # Bob's order is refunded: the loader rewrites its row.
        ["update raw_shop.orders set financial_status = 'refunded', _loaded_at = '2025-03-09 11:00:00' "
         "where order_id = 5003"],
    ),
    (
        # Bob orders as the guest (his shop account, the guest's email): the guest's customer merges into his.
        {"raw_shop.orders": [_order(5005, 8, GUEST, 10)],
         "raw_shop.order_items": [_line(6, 5005, 1, "2025-03-10 11:00:00")]},
        [],
    ),
]  # fmt: skip


def _insert(
    execute: Callable[[str, list[Any]], Any],
    rows: dict[str, list[dict[str, Any]]],
    mark: str,
    schema: str = f"{segment_world.SCHEMA}.",
) -> None:
    for table, table_rows in rows.items():
        for row in table_rows:
            names = ", ".join(f'"{name}"' for name in row)
            execute(
                f"insert into {schema}{table} ({names}) values ({', '.join(mark for _ in row)})",
                list(row.values()),
            )


def _presets(root: Path, monkeypatch: pytest.MonkeyPatch, database_file: str | None) -> None:
    path = root / "presets.yml"
    path.write_text(segment_world.presets_yaml("segment", "", database_file))
    monkeypatch.setenv(PRESETS_FILE_ENV, str(path))


def _run(settings: Settings, full_refresh: bool = False) -> None:
    # The pipeline's phased build (on Postgres the Python steps run between dbt's phases) of the models and
    # seeds: the data tests are the pipeline's own (tests/test_incremental_staging.py runs them).
    results = build_models(
        settings,
        select=SELECT,
        exclude_resource_types=["test", "unit_test"],
        full_refresh=full_refresh,
        report=False,
    )["results"]
    assert results and not [r["unique_id"] for r in results if r["status"] != "success"]


def _marts(query: Query) -> dict[str, list[tuple[Any, ...]]]:
    return {mart: sorted(query(f"select * from {mart}"), key=repr) for mart in MARTS}


def _customer(query: Query, message_id: str) -> Any:
    ((customer_id,),) = query(f"select customer_id from events where event_id = '{message_id}'")
    return customer_id


def _one(query: Query, sql: str) -> Any:
    ((value,),) = query(sql)
    return value


def _current(query: Query, event_id: str) -> Any:
    return _one(query, f"select is_current from consent_history where consent_event_id = '{event_id}'")


def _suppress(query: Query) -> None:
    """A suppression written after the rows were placed (Postgres's `tessera privacy suppress` writes only the
    list, for the next build): staging quarantines the stranger's device's calls and Ann's email's orders and
    decisions, and the marts drop them too; Ann's grant, no longer withdrawn, is in force again."""
    query(f"create table {SUPPRESSION_TABLE} (identifier_type varchar, identifier_hash varchar)")
    query(
        f"insert into {SUPPRESSION_TABLE} values ('anonymous_id', '{suppression_hash('anonymous_id', 'a-stranger')}'), "
        f"('email', '{suppression_hash('email', ANN_EMAIL)}')"
    )


def _chain(
    settings: Settings,
    query: Query,
    execute: Callable[[str, list[Any]], Any],
    raw: Callable[[str, list[Any]], Any],
    mark: str,
    one_by_one: bool,
) -> dict[str, list[tuple[Any, ...]]]:
    """The first build, then one incremental build per increment (`one_by_one`, checking what each placed)
    and the suppression's build; or one build of them all and the suppression. The marts' rows at the end,
    after checking what the builds placed again."""
    _insert(raw, RAW, mark, schema="")
    _run(settings)
    # A row changed where it is placed shows which rows a build places again: these never are.
    query("update events set utm_campaign = 'placed once' where event_id = 'm-order'")
    query("update orders set discount_code = 'placed once' where order_id in ('5006', 'T-1')")
    query("update order_items set product_name = 'placed once' where order_item_id = '7'")
    # consent_history compares its decisions with those placed now, not valid_to: Cy's row is never placed again.
    query(
        "update consent_history set valid_to = cast('1999-01-01' as timestamp) where consent_event_id = 'c-cy'"
    )
    stranger = None
    for number, (increment, (raw_rows, updates)) in enumerate(
        zip(INCREMENTS, RAW_INCREMENTS, strict=True), 1
    ):
        _insert(execute, increment, mark)
        _insert(raw, raw_rows, mark, schema="")
        for update in updates:
            raw(update, [])
        if not one_by_one and number < len(INCREMENTS):
            continue
        if not one_by_one:
            _suppress(query)
        _run(settings)
        if number == 1 and one_by_one:
            stranger = _customer(query, "m-stranger")
            assert stranger not in (None, _customer(query, "m-purchase"))
            assert query("select loaded_at from events where event_id = 'm-view'") == [
                (dt.datetime(2025, 3, 1, 11),)
            ]
            # The late line counts in its order, which now counts as loaded with it; Ann's withdrawal ends her grant.
            assert query("select item_count, loaded_at from orders where order_id = '5001'") == [
                (4, dt.datetime(2025, 3, 8, 11))
            ]
            assert (_current(query, "c-ann"), _current(query, "c-ann-withdrawn")) == (False, True)
        if number == 2 and one_by_one:
            assert query("select product_id from events where event_id = 'm-late'") == [("P-3",)]
            assert query("select count(*) from events where event_id = 'm-straggler'") == [(1,)]
            # The refund replaces the order and reaches its line; the decision loaded inside the lookback is placed.
            assert _one(query, "select financial_status from orders where order_id = '5003'") == "refunded"
            assert (
                _one(query, "select financial_status from order_items where order_item_id = '4'")
                == "refunded"
            )
            assert _current(query, "c-ann-sms") is True
    assert query("select utm_campaign from events where event_id = 'm-order'") == [("placed once",)], (
        "an incremental build placed again an event with no new load and no change of customer"
    )
    assert (
        query("select discount_code from orders where order_id in ('5006', 'T-1')") == [("placed once",)] * 2
    )
    assert query("select product_name from order_items where order_item_id = '7'") == [("placed once",)]
    assert query("select valid_to from consent_history where consent_event_id = 'c-cy'") == [
        (dt.datetime(1999, 1, 1),)
    ]
    bob = _one(query, "select customer_id from orders where order_id = '5003'")
    if one_by_one:
        # The merge re-attributed the event placed two builds ago.
        assert _customer(query, "m-stranger") == _customer(query, "m-purchase") != stranger
    # The guest's order and decision, placed in the first build, are Bob's now; his history has both decisions.
    assert query("select customer_id from orders where order_id in ('5002', '5005')") == [(bob,), (bob,)]
    assert _one(query, "select customer_id from order_items where order_item_id = '3'") == bob
    assert query(
        "select consent_event_id, valid_to, is_current from consent_history "
        f"where customer_id = '{bob}' order by valid_from"
    ) == [("c-bob", dt.datetime(2025, 3, 3, 10), False), ("c-guest", None, True)]
    if one_by_one:
        _suppress(query)
        _run(settings)
    assert query("select count(*) from events where anonymous_id = 'a-stranger'") == [(0,)]
    assert query("select count(*) from orders where order_id in ('5001', '5004')") == [(0,)]
    assert query("select count(*) from order_items where order_id = '5001'") == [(0,)]
    assert (
        _current(query, "c-ann"),
        query("select * from consent_history where consent_event_id = 'c-ann-withdrawn'"),
    ) == (True, [])
    # As a full build places them.
    query("update events set utm_campaign = null where event_id = 'm-order'")
    query("update orders set discount_code = null where order_id in ('5006', 'T-1')")
    query("update order_items set product_name = 'Hat' where order_item_id = '7'")
    query("update consent_history set valid_to = null where consent_event_id = 'c-cy'")
    return _marts(query)


def test_a_chain_of_incremental_builds_places_what_a_full_refresh_does_on_duckdb(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings = world_settings(tmp_path)
    write_world(settings.data_dir, {})
    (tmp_path / LOADER_FILE).parent.mkdir(parents=True)
    with duckdb.connect(str(tmp_path / LOADER_FILE)) as loader:
        segment_world.create(lambda sql, params: loader.execute(sql, params))
    _presets(tmp_path, monkeypatch, LOADER_FILE)
    monkeypatch.delenv("TESSERA_RESTAGE_EVENTS", raising=False)
    warehouse = get_warehouse(settings)
    warehouse.prepare_build()
    warehouse.load_raw(settings.raw_dir)

    def query(sql: str) -> list[tuple[Any, ...]]:
        with duckdb.connect(str(settings.build_db)) as con:
            return con.execute(sql).fetchall()

    def execute(sql: str, params: list[Any]) -> None:
        with duckdb.connect(str(tmp_path / LOADER_FILE)) as loader:
            loader.execute(sql, params)

    def raw(sql: str, params: list[Any]) -> None:
        with duckdb.connect(str(settings.build_db)) as con:
            con.execute(sql, params)

    chain = _chain(settings, query, execute, raw, "?", one_by_one=True)
    _run(settings, full_refresh=True)
    assert _marts(query) == chain


def test_a_chain_of_incremental_builds_places_what_a_full_refresh_does_on_postgres(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    require_postgres()
    import psycopg2

    settings = world_settings(tmp_path, "postgres", pg_schema="tessera_incremental_events")
    write_world(settings.data_dir, {})
    con = psycopg2.connect(**settings.postgres.connect_kwargs())
    con.autocommit = True
    cur = con.cursor()
    segment_world.create(lambda sql, params: cur.execute(sql, params), placeholder="%s", with_time_zone=True)
    _presets(tmp_path, monkeypatch, None)
    monkeypatch.delenv("TESSERA_RESTAGE_EVENTS", raising=False)
    warehouse = get_warehouse(settings)
    warehouse.prepare_build()
    warehouse.load_raw(settings.raw_dir)
    build_schema = settings.postgres.build_schema
    # The marts and the suppression list are the build schema's; raw tables are named with their schema.
    cur.execute(f'set search_path to "{build_schema}"')

    def query(sql: str) -> list[tuple[Any, ...]]:
        cur.execute(sql)
        return cur.fetchall() if cur.description else []

    def execute(sql: str, params: list[Any]) -> None:  # the loader's zoned timestamps, in UTC
        cur.execute(
            sql, [f"{v}+00:00" if isinstance(v, str) and v.startswith("2025-") else v for v in params]
        )

    def raw(sql: str, params: list[Any]) -> None:
        cur.execute(sql, params)

    try:
        chain = _chain(settings, query, execute, raw, "%s", one_by_one=False)
        _run(settings, full_refresh=True)
        assert _marts(query) == chain
    finally:
        cur.execute(f'drop table if exists "{build_schema}".{SUPPRESSION_TABLE}')
        cur.execute(f"drop schema if exists {segment_world.SCHEMA} cascade")
        con.close()
