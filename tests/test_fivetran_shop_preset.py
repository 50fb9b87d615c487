"""The fivetran preset of the shop source: a Shopify shop as Fivetran's connector lands it (tests/shopify_world.py,
written from Fivetran's documentation) is read in place and staged into the contract the demo preset feeds, on
DuckDB (the pipeline, into the customers and the orders marts) and on Postgres (staging)."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from pathlib import Path
from typing import Any

import duckdb
import pytest

from orchestration.build.pipeline import build, run_dbt
from orchestration.settings import Settings
from orchestration.source_presets import PRESETS_FILE_ENV
from orchestration.warehouse.registry import get_warehouse
from tests import shopify_world
from tests.conftest import require_postgres
from tests.worlds import world_settings, write_world

STAGING = "+path:models/staging/shop"
#: What this module's DuckDB tests read (the shop's base and staging models, quarantined_rows, customers,
#: orders) and everything upstream of it: the build leaves out the other marts (events, traits, predictions,
#: audiences, activation), whose tests the main world runs.
DUCKDB_SELECTION = ["+customers", "+orders", "+order_items", "+quarantine_summary"]
_S, _B, _T, _N = "VARCHAR", "BOOLEAN", "TIMESTAMP", "DECIMAL(28,6)"
#: The shop base models' columns and DuckDB types as the demo preset builds them (the staging contract).
DEMO_CONTRACT: dict[str, list[tuple[str, str]]] = {
    "base_shop__customers": [
        ("shop_customer_id", _S), ("first_name", _S), ("last_name", _S), ("first_name_key", _S),
        ("last_name_key", _S), ("email_raw", _S), ("email", _S), ("phone_raw", _S), ("phone", _S), ("street", _S),
        ("city", _S), ("postcode", _S), ("region", _S), ("country_code", _S), ("accepts_marketing", _B),
        ("created_at", _T), ("updated_at", _T), ("loaded_at", _T), ("is_valid_email", _B), ("is_junk_email", _B),
        ("is_junk_phone", _B), ("email_issue", _S), ("phone_issue", _S), ("quarantine_reason", _S),
    ],
    "base_shop__orders": [
        ("order_id", _S), ("shop_customer_id", _S), ("store_id", _S), ("email_raw", _S), ("email", _S),
        ("order_channel", _S), ("currency_code", _S), ("discount_code", _S), ("financial_status", _S),
        ("subtotal_amount", _N), ("discount_amount", _N), ("total_amount", _N), ("ordered_at", _T),
        ("loaded_at", _T), ("is_junk_email", _B), ("quarantine_reason", _S),
    ],
    "base_shop__order_items": [
        ("order_item_id", _S), ("order_id", _S), ("product_id", _S), ("product_name", _S),
        ("product_category", _S), ("quantity", "INTEGER"), ("unit_price", _N), ("loaded_at", _T),
        ("quarantine_reason", _S),
    ],
}  # fmt: skip


def _presets(root: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = root / "presets.yml"
    path.write_text(shopify_world.presets_yaml())
    monkeypatch.setenv(PRESETS_FILE_ENV, str(path))


def _columns(query: Any, table: str) -> list[tuple[str, str]]:
    return [
        (name, kind)
        for name, kind in query(
            "select column_name, data_type from information_schema.columns "
            f"where table_name = '{table}' order by ordinal_position"
        )
    ]


@pytest.fixture(scope="module")
def duckdb_build(tmp_path_factory: pytest.TempPathFactory) -> Settings:
    """The pipeline, narrowed to DUCKDB_SELECTION, on a world whose only shop is the Fivetran tables (the
    demo files are empty). The preset's configuration keeps the dbt unit tests of the selected models."""
    root = tmp_path_factory.mktemp("shopify-world")
    settings = world_settings(root)
    write_world(settings.data_dir, {})
    settings.published_db.parent.mkdir(parents=True, exist_ok=True)
    con = duckdb.connect(str(settings.published_db))
    shopify_world.create(lambda sql, params: con.execute(sql, params))
    con.close()
    with pytest.MonkeyPatch.context() as monkeypatch:
        _presets(root, monkeypatch)
        assert build(settings, select=DUCKDB_SELECTION).published
    return settings


def _query(settings: Settings, sql: str) -> list[tuple[Any, ...]]:
    return get_warehouse(settings).query_published(sql)


def test_fivetran_tables_land_in_the_demo_staging_contract(duckdb_build: Settings) -> None:
    for table, columns in DEMO_CONTRACT.items():
        assert _columns(lambda sql: _query(duckdb_build, sql), table) == columns, table


def test_a_customer_with_an_order_reaches_customers_and_the_orders_mart(duckdb_build: Settings) -> None:
    [(customer_id, first, last, email, street, city, postcode, country)] = _query(
        duckdb_build,
        "select customer_id, first_name, last_name, email, street, city, postcode, country_code from customers "
        "where email = 'ann.lee@fastmail.com'",
    )
    # the default address (default_address_id), not her first one
    assert (first, last, street, city, postcode, country) == (
        "Ann",
        "Lee",
        "12 Mill Lane",
        "Leeds",
        "LS14AP",
        "GB",
    )
    orders = _query(
        duckdb_build,
        "select order_id, customer_id, order_channel, store_id, currency_code, discount_code, financial_status, "
        "item_count, cast(total_amount as double), ordered_at from orders where source_name = 'shop' order by 1",
    )
    assert orders[0] == (
        "7001",
        customer_id,
        "online",
        None,
        "GBP",
        "SPRING10",
        "paid",
        3,
        54.0,
        dt.datetime(2025, 3, 2, 10),
    )
    # a till order (source_name pos) is a store order at its location; authorized is not yet paid
    assert orders[1][:7] == ("7003", orders[1][1], "store", "66001", "GBP", None, "pending")
    assert [order_id for order_id, *_ in orders] == ["7001", "7003"]
    assert _query(
        duckdb_build,
        "select order_item_id, product_name, product_category, quantity, cast(unit_price as double) "
        "from stg_shop__order_items where order_id = '7001' order by 1",
    ) == [("8001", "Trail Shoe", "shoes", 1, 50.0), ("8002", "Wool Sock", "socks", 2, 5.0)]
    assert _query(
        duckdb_build,
        "select accepts_marketing, loaded_at from stg_shop__customers where shop_customer_id = '501'",
    ) == [(True, dt.datetime(2025, 4, 2, 6))]


def test_a_customer_deleted_in_shopify_is_not_a_live_customer(duckdb_build: Settings) -> None:
    assert _query(duckdb_build, "select count(*) from customers where email = 'dan.roe@proton.me'") == [(0,)]
    assert _query(
        duckdb_build, "select count(*) from stg_shop__customers where shop_customer_id = '502'"
    ) == [(0,)]
    assert _query(duckdb_build, "select count(*) from orders where order_id = '7002'") == [(0,)]
    assert _query(
        duckdb_build,
        "select table_name, record_id, quarantine_reason from quarantined_rows where source_name = 'shop' "
        "order by 1, 2",
    ) == [
        ("customers", "502", "deleted in source"),
        ("order_items", "8003", "order deleted in source"),
        ("orders", "7002", "deleted in source"),
    ]


def test_postgres_stages_the_same_world(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    require_postgres()
    import psycopg2

    settings = world_settings(tmp_path, "postgres", pg_schema="tessera_shopify")
    write_world(settings.data_dir, {})
    con = psycopg2.connect(**settings.postgres.connect_kwargs())
    con.autocommit = True
    with con.cursor() as cur:
        shopify_world.create(
            lambda sql, params: cur.execute(sql, params), placeholder="%s", with_time_zone=True
        )
    _presets(tmp_path, monkeypatch)
    # dbt's session is not on UTC: Fivetran's `timestamp with time zone` must still stage as UTC.
    monkeypatch.setenv("PGTZ", "America/New_York")
    warehouse = get_warehouse(settings)
    warehouse.prepare_build()
    warehouse.load_raw(settings.raw_dir)
    results = run_dbt(settings, ["build", "--select", STAGING])["results"]
    failed = [r["unique_id"] for r in results if r["status"] not in ("success", "pass")]
    assert results and not failed
    build_schema = settings.postgres.build_schema
    with con.cursor() as cur:
        cur.execute(
            f'select shop_customer_id, email, city, accepts_marketing, created_at from "{build_schema}".'
            "stg_shop__customers order by 1"
        )
        assert cur.fetchall() == [
            ("501", "ann.lee@fastmail.com", "Leeds", True, dt.datetime(2025, 3, 1, 9)),
            ("503", "cara.diaz@gmail.com", None, False, dt.datetime(2025, 3, 1, 11)),
        ]
        cur.execute(
            f'select order_id, shop_customer_id, financial_status, total_amount, ordered_at from "{build_schema}".'
            "stg_shop__orders order by 1"
        )
        assert cur.fetchall() == [
            ("7001", "501", "paid", Decimal("54"), dt.datetime(2025, 3, 2, 10)),
            ("7003", "503", "pending", Decimal("15"), dt.datetime(2025, 3, 4, 15)),
        ]
        cur.execute(f'select order_item_id from "{build_schema}".stg_shop__order_items order by 1')
        assert cur.fetchall() == [("8001",), ("8002",), ("8004",)]
        cur.execute(f"drop schema {shopify_world.SCHEMA} cascade")
    con.close()
