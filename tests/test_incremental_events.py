"""The incremental `events` mart (models/marts/events/events.sql): a chain of builds, each placing only the
events loaded since the last one (less the lookback) and the events whose identifier changed customer, ends
with the table a full refresh gives, on DuckDB and on Postgres. The world is tests/segment_world.py (a
loader's real load times: the demo preset's files are stamped whole at every load), and its increments bring
what a day of loads does: new calls, a message delivered again, a call whose properties row lands a load
later, a load that commits out of order inside the lookback, and an identify call that merges an anonymous
device into a known customer, so that an event placed two builds earlier changes customer; then a
suppression, whose device's events leave the mart as they leave staging. The builds are the pipeline's
phased build of the models and seeds the mart reads, in the build database (no tests, no publish:
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

SELECT = ["+events"]
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


def _insert(
    execute: Callable[[str, list[Any]], Any], rows: dict[str, list[dict[str, Any]]], mark: str
) -> None:
    for table, table_rows in rows.items():
        for row in table_rows:
            names = ", ".join(f'"{name}"' for name in row)
            execute(
                f"insert into {segment_world.SCHEMA}.{table} ({names}) values ({', '.join(mark for _ in row)})",
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


def _customer(query: Query, message_id: str) -> Any:
    ((customer_id,),) = query(f"select customer_id from events where event_id = '{message_id}'")
    return customer_id


def _chain(
    settings: Settings, query: Query, execute: Callable[[str, list[Any]], Any], mark: str
) -> list[tuple[Any, ...]]:
    """The first build, then one incremental build per increment; the mart's rows at the end, after checking
    what each build placed again."""
    _run(settings)
    # A row changed where it is placed shows which rows a build places again: m-order never is.
    query("update events set utm_campaign = 'placed once' where event_id = 'm-order'")
    for number, increment in enumerate(INCREMENTS, start=1):
        _insert(execute, increment, mark)
        _run(settings)
        if number == 1:
            stranger = _customer(query, "m-stranger")
            assert stranger not in (None, _customer(query, "m-purchase"))
            assert query("select loaded_at from events where event_id = 'm-view'") == [
                (dt.datetime(2025, 3, 1, 11),)
            ]
        if number == 2:
            assert query("select product_id from events where event_id = 'm-late'") == [("P-3",)]
            assert query("select count(*) from events where event_id = 'm-straggler'") == [(1,)]
    assert query("select utm_campaign from events where event_id = 'm-order'") == [("placed once",)], (
        "an incremental build placed again an event with no new load and no change of customer"
    )
    # The merge re-attributed the event placed two builds ago.
    assert _customer(query, "m-stranger") == _customer(query, "m-purchase") != stranger
    # A suppression written after the events were placed (Postgres's `tessera privacy suppress` writes only
    # the list, for the next build): staging quarantines the device's calls, and the mart drops them too.
    query(f"create table {SUPPRESSION_TABLE} (identifier_type varchar, identifier_hash varchar)")
    query(
        f"insert into {SUPPRESSION_TABLE} values ('anonymous_id', '{suppression_hash('anonymous_id', 'a-stranger')}')"
    )
    _run(settings)
    assert query("select count(*) from events where anonymous_id = 'a-stranger'") == [(0,)]
    query("update events set utm_campaign = null where event_id = 'm-order'")  # as a full build places it
    return sorted(query("select * from events"), key=repr)


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

    chain = _chain(settings, query, execute, "?")
    _run(settings, full_refresh=True)
    assert sorted(query("select * from events"), key=repr) == chain


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

    def query(sql: str) -> list[tuple[Any, ...]]:
        for table in (" events", f" {SUPPRESSION_TABLE}"):
            sql = sql.replace(table, f' "{build_schema}".{table.strip()}', 1)
        cur.execute(sql)
        return cur.fetchall() if cur.description else []

    def execute(sql: str, params: list[Any]) -> None:  # the loader's zoned timestamps, in UTC
        cur.execute(
            sql, [f"{v}+00:00" if isinstance(v, str) and v.startswith("2025-") else v for v in params]
        )

    try:
        chain = _chain(settings, query, execute, "%s")
        _run(settings, full_refresh=True)
        assert sorted(query("select * from events"), key=repr) == chain
    finally:
        cur.execute(f'drop table if exists "{build_schema}".{SUPPRESSION_TABLE}')
        cur.execute(f"drop schema if exists {segment_world.SCHEMA} cascade")
        con.close()
