"""Incremental staging of the Segment event logs (tracks, pages, screens; macros/staging/incremental_deliveries.sql):
a chain of builds, each staging only the messages loaded since the last, ends with the tables a full restage
gives, on DuckDB (the loader's own file, the whole build path, published) and on Postgres (staging, in place).
The world is tests/segment_world.py, written from Segment's documentation; each increment adds what a loader
really does: new calls, a message delivered again in a later load (and once received earlier than its first
copy), a call whose per-event properties row lands a load after it, a load that commits out of order inside
the lookback, and calls without a message id."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from pathlib import Path
from typing import Any

import duckdb
import pytest

from orchestration.build.pipeline import build, run_dbt
from orchestration.privacy.backend import SUPPRESSION_TABLE
from orchestration.privacy.hashing import suppression_hash
from orchestration.settings import Settings
from orchestration.source_presets import PRESETS_FILE_ENV
from orchestration.warehouse.registry import get_warehouse
from tests import segment_world
from tests.conftest import require_postgres
from tests.worlds import world_settings, write_world

# The three event logs and what they read (the blocklist, the suppression list), nothing else.
STAGING = ["+stg_events__tracks", "+stg_events__pages", "+stg_events__screens"]
LOADER_FILE = "loader/segment.duckdb"
TABLES = [
    "base_events__tracks",
    "base_events__pages",
    "base_events__screens",
    "stg_events__tracks",
    "stg_events__pages",
    "stg_events__screens",
]
_T = segment_world._track  # noqa: SLF001 (the world's own row builders)
_C = segment_world._call  # noqa: SLF001


def _loaded(row: dict[str, Any], uuid_ts: str, received_at: str | None = None) -> dict[str, Any]:
    return row | {"uuid_ts": uuid_ts} | ({"received_at": received_at} if received_at else {})


NEW = _T("m-new", 8, "a-ann", "7", "product_viewed", "Product Viewed")
LATE = _T("m-late", 8, "a-bob", "8", "product_viewed", "Product Viewed")
VIEWED = segment_world.VIEWED
INCREMENTS: list[dict[str, list[dict[str, Any]]]] = [
    {
        "tracks": [
            _loaded(NEW, "2025-03-08 11:00:00"),
            # Its properties row lands a load later (the third increment).
            _loaded(LATE, "2025-03-08 11:00:00"),
            # The first message of the world, delivered again: a duplicate, staged with its first copy.
            _loaded(VIEWED, "2025-03-08 11:00:00", received_at="2025-03-08 10:00:00"),
        ],
        "product_viewed": [_loaded(NEW | {"product_id": "P-2", "category": "Hats", "price": 12.0}, "2025-03-08 11:00:00")],
        "pages": [
            _loaded(_C(None, 8, "a-bob", None, path="/hats", title="Hats"), "2025-03-08 11:00:00"),
            # Loaded late in the day: the next build's cut-off passes the call above.
            _loaded(_C("m-page-2", 8, "a-bob", None, path="/caps", title="Caps"), "2025-03-08 23:00:00"),
        ],
        "screens": [_loaded(_C("m-screen-2", 8, "a-ann-phone", "7", name="Basket"), "2025-03-08 11:00:00")],
    },
    {
        "product_viewed": [
            _loaded(LATE | {"product_id": "P-3", "category": "Socks", "price": 5.0}, "2025-03-09 11:00:00")
        ],
        "tracks": [
            # m-new again, received before its first copy: it becomes the first delivery.
            _loaded(NEW, "2025-03-09 11:00:00", received_at="2025-03-07 09:00:00"),
            # A load that committed after a later one, inside the lookback (6 hours before the latest).
            _loaded(_T("m-straggler", 8, "a-ann", "7", "order_completed", "Order Completed"), "2025-03-08 09:00:00"),
            # Loaded exactly at the cut-off (the latest load staged, 11:00, less the 6-hour lookback).
            _loaded(_T("m-at-cutoff", 8, "a-ann", "7", "product_viewed", "Product Viewed"), "2025-03-08 05:00:00"),
        ],
        # A second call without a message id, in a load past the lookback of the first: all calls without
        # an id are numbered together (delivery_number), so they are restaged together.
        "pages": [_loaded(_C(None, 9, "a-ann", None, path="/socks", title="Socks"), "2025-03-09 11:00:00")],
    },
]  # fmt: skip


def _insert(
    execute: Callable[[str, list[Any]], Any], rows: dict[str, list[dict[str, Any]]], placeholder: str = "?"
) -> None:
    for table, table_rows in rows.items():
        for row in table_rows:
            names = ", ".join(f'"{name}"' for name in row)
            marks = ", ".join(placeholder for _ in row)
            execute(
                f"insert into {segment_world.SCHEMA}.{table} ({names}) values ({marks})", list(row.values())
            )


def _rows(query: Callable[[str], list[tuple[Any, ...]]], table: str) -> list[tuple[Any, ...]]:
    return sorted(query(f"select * from {table}"), key=repr)


def _presets(root: Path, monkeypatch: pytest.MonkeyPatch, database_file: str | None, names: str = "") -> None:
    path = root / "presets.yml"
    path.write_text(segment_world.presets_yaml("segment", "", database_file) + names)
    monkeypatch.setenv(PRESETS_FILE_ENV, str(path))


def _loader(root: Path) -> duckdb.DuckDBPyConnection:
    return duckdb.connect(str(root / LOADER_FILE))


def _build_file_rows(settings: Settings, table: str) -> list[tuple[Any, ...]]:
    con = duckdb.connect(str(settings.build_db), read_only=True)
    try:
        return _rows(lambda sql: con.execute(sql).fetchall(), table)
    finally:
        con.close()


def test_a_chain_of_incremental_builds_stages_what_a_full_restage_does_on_duckdb(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings = world_settings(tmp_path)
    write_world(settings.data_dir, {})
    (tmp_path / LOADER_FILE).parent.mkdir(parents=True)
    con = _loader(tmp_path)
    segment_world.create(lambda sql, params: con.execute(sql, params))
    con.close()
    _presets(tmp_path, monkeypatch, LOADER_FILE)
    monkeypatch.delenv("TESSERA_RESTAGE_EVENTS", raising=False)
    assert build(settings, select=STAGING).published
    published = get_warehouse(settings).query_published

    # A row changed where it is staged shows which rows a build stages again: only the messages loaded since
    # the last build, less the lookback (m-order's two copies were loaded a day before the latest load).
    with duckdb.connect(str(settings.published_db)) as edit:
        edit.execute("update base_events__tracks set event_text = 'staged once' where message_id = 'm-order'")
    for number, increment in enumerate(INCREMENTS, start=2):
        with _loader(tmp_path) as loader:
            _insert(loader.execute, increment)
        assert build(settings, select=STAGING).published
        if number == 2:
            kept = published(
                "select distinct event_text from base_events__tracks where message_id = 'm-order'"
            )
            assert kept == [("staged once",)], "an incremental build restaged a message with no new delivery"
            assert published(
                "select delivery_number, quarantine_reason from base_events__tracks where message_id = 'm-view' "
                "order by delivery_number"
            ) == [(1, None), (2, "duplicate delivery")]
            assert published("select product_id from stg_events__tracks where message_id = 'm-late'") == [
                (None,)
            ]
            with duckdb.connect(str(settings.published_db)) as edit:  # as the full build staged it
                edit.execute(
                    "update base_events__tracks set event_text = 'Order Completed' where message_id = 'm-order'"
                )

    assert published(
        "select product_id, product_category from stg_events__tracks where message_id = 'm-late'"
    ) == [("P-3", "socks")]
    assert published(
        "select received_at from base_events__tracks where message_id = 'm-new' and delivery_number = 1"
    ) == [(dt.datetime(2025, 3, 7, 9),)]
    assert published(
        "select count(*) from stg_events__tracks where message_id in ('m-straggler', 'm-at-cutoff')"
    ) == [(2,)]
    assert published(
        "select delivery_number from base_events__pages where message_id is null order by 1"
    ) == [(1,), (2,)]
    chain = {table: _rows(published, table) for table in TABLES}

    # The same raw tables staged whole (restaged: TESSERA_RESTAGE_EVENTS, as an erase's rebuild asks); a row
    # changed where it is staged comes back as staged from the raw table.
    with duckdb.connect(str(settings.published_db)) as edit:
        edit.execute("update base_events__tracks set event_text = 'stale' where message_id = 'm-order'")
    monkeypatch.setenv("TESSERA_RESTAGE_EVENTS", "true")
    assert build(settings, select=STAGING, publish=False).audit.passed
    for table in TABLES:
        assert _build_file_rows(settings, table) == chain[table], table

    # Other staging logic (here the preset's event names) restages every row, without being asked.
    monkeypatch.delenv("TESSERA_RESTAGE_EVENTS")
    _presets(tmp_path, monkeypatch, LOADER_FILE, names="      Product Viewed: product_added\n")
    assert build(settings, select=STAGING).published
    assert published("select distinct event_name from stg_events__tracks where message_id = 'm-view'") == [
        ("product_added",)
    ]

    # One row staged by other logic (a row the table's first is not) restages them all: every row is checked,
    # not the first one read.
    with duckdb.connect(str(settings.published_db)) as edit:
        edit.execute("update base_events__tracks set event_text = 'stale' where message_id = 'm-order'")
        ((first,),) = edit.execute("select message_id from base_events__tracks limit 1").fetchall()
        edit.execute(
            "update base_events__tracks set staging_logic = 'older' where message_id = "
            "(select max(message_id) from base_events__tracks where message_id <> ?)",
            [first],
        )
        read_first = edit.execute("select staging_logic from base_events__tracks limit 1").fetchall()
    assert read_first[0][0] != "older", "the changed row is the first one read: the test shows nothing"
    assert build(settings, select=STAGING).published
    assert published("select distinct event_text from base_events__tracks where message_id = 'm-order'") == [
        ("Order Completed",)
    ]
    assert published("select count(distinct staging_logic) from base_events__tracks") == [(1,)]


def test_a_chain_of_incremental_builds_stages_what_a_full_restage_does_on_postgres(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    require_postgres()
    import psycopg2

    settings = world_settings(tmp_path, "postgres", pg_schema="tessera_incremental")
    write_world(settings.data_dir, {})
    con = psycopg2.connect(**settings.postgres.connect_kwargs())
    con.autocommit = True
    cur = con.cursor()

    def execute(sql: str, params: list[Any]) -> None:  # the loader's zoned timestamps, in UTC
        cur.execute(
            sql, [f"{v}+00:00" if isinstance(v, str) and v.startswith("2025-") else v for v in params]
        )

    segment_world.create(lambda sql, params: cur.execute(sql, params), placeholder="%s", with_time_zone=True)
    _presets(tmp_path, monkeypatch, None)
    monkeypatch.delenv("TESSERA_RESTAGE_EVENTS", raising=False)
    # dbt's session is not on UTC: the loader's zoned load times must still stage and compare as UTC.
    monkeypatch.setenv("PGTZ", "America/New_York")
    warehouse = get_warehouse(settings)
    warehouse.prepare_build()
    warehouse.load_raw(settings.raw_dir)
    build_schema = settings.postgres.build_schema

    def query(sql: str) -> list[tuple[Any, ...]]:
        cur.execute(sql.replace(" from ", f' from "{build_schema}".', 1))
        return cur.fetchall()

    def staged() -> None:
        results = run_dbt(settings, ["build", "--select", *STAGING])["results"]
        # (The share of pages without a message id is above share_at_most's 5 %: a warning.)
        assert results and not [
            r["unique_id"] for r in results if r["status"] not in ("success", "pass", "warn")
        ]

    staged()
    sentinel = (
        f"update \"{build_schema}\".base_events__tracks set event_text = %s where message_id = 'm-order'"
    )
    cur.execute(sentinel, ["staged once"])
    for number, increment in enumerate(INCREMENTS, start=2):
        _insert(execute, increment, placeholder="%s")
        staged()
        if number == 2:  # m-order was loaded before the lookback: not staged again
            assert query(
                "select distinct event_text from base_events__tracks where message_id = 'm-order'"
            ) == [("staged once",)]
            cur.execute(sentinel, ["Order Completed"])
    assert query("select product_id from stg_events__tracks where message_id = 'm-late'") == [("P-3",)]
    # Staged on UTC, whatever the session's zone (the base models' pre-hook): 09:00 UTC, not 04:00 in New York.
    assert query("select loaded_at from stg_events__tracks where message_id = 'm-straggler'") == [
        (dt.datetime(2025, 3, 8, 9),)
    ]
    assert query("select count(*) from stg_events__tracks where message_id = 'm-at-cutoff'") == [(1,)]
    chain = {table: _rows(query, table) for table in TABLES}
    cur.execute(
        f"update \"{build_schema}\".base_events__tracks set event_text = 'stale' where message_id = 'm-order'"
    )
    monkeypatch.setenv("TESSERA_RESTAGE_EVENTS", "true")
    staged()
    for table in TABLES:
        assert _rows(query, table) == chain[table], table

    # A suppression written after the rows were staged (Postgres's `tessera privacy suppress` writes only the
    # list, for the next build) reaches them without a restage being asked for: the list is in the digest.
    monkeypatch.delenv("TESSERA_RESTAGE_EVENTS")
    cur.execute(
        f'create table "{build_schema}".{SUPPRESSION_TABLE} (identifier_type text, identifier_hash text)'
    )
    cur.execute(
        f'insert into "{build_schema}".{SUPPRESSION_TABLE} values (%s, %s)',
        ["anonymous_id", suppression_hash("anonymous_id", "a-ann")],
    )
    staged()
    assert query(
        "select distinct quarantine_reason from base_events__tracks where message_id = 'm-order'"
    ) == [("suppressed",)]
    cur.execute(f'drop table "{build_schema}".{SUPPRESSION_TABLE}')
    cur.execute(f"drop schema if exists {segment_world.SCHEMA} cascade")
    con.close()
