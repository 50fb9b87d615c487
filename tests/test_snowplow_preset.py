"""The snowplow preset: a Snowplow `atomic.events` table (tests/snowplow_world.py, written by hand in the
shape Snowplow's loaders write) is read in place and staged into the events staging contract, on DuckDB
(the pipeline, into the events mart) and on Postgres (staging)."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import duckdb
import pytest

from orchestration.build.pipeline import build, run_dbt
from orchestration.settings import Settings
from orchestration.source_presets import PRESETS_FILE_ENV, dbt_vars
from orchestration.warehouse.registry import get_warehouse
from tests import snowplow_world as world
from tests.conftest import require_postgres
from tests.test_segment_preset import STAGING, TRACK_COLUMNS
from tests.worlds import world_settings, write_world

#: What this module's DuckDB tests read (staging, the events mart, the quarantine tables; `events` needs the
#: identity layer) and everything upstream of it: the build leaves out the other marts (orders, traits,
#: predictions, audiences, activation), whose tests the main world runs. stg_events__screens feeds no mart.
DUCKDB_SELECTION = ["+events", "+customer_identifiers", "+quarantine_summary", "+stg_events__screens"]

#: (message_id, event_name, event_text, product_id, price, order_id, revenue) of the staged tracks.
TRACKS = [
    (world.BASKET, "product_added", "add-to-basket", "P-1", 49.5, None, None),
    (world.ORDER, "order_completed", "transaction", None, None, "1001", 99.0),
    (world.ITEM, "transaction_item", "transaction_item", None, None, None, None),
    (world.CLICK, "link_click", "link_click", None, None, None, None),
    (world.VIDEO, "play_video", "Play Video", None, None, None, None),
]
TRACKS_SQL = (
    "select message_id, event_name, event_text, product_id, cast(price as double precision), order_id, "
    "cast(revenue as double precision) from {schema}stg_events__tracks order by 1"
)

#: (message_id, device_type) of the staged tracks, pages and screens: the device class of the YAUAA
#: enrichment's context (a derived context) where it ran and could tell, else the tracker's platform.
DEVICE_TYPES = [
    (world.PAGE, "desktop"),
    (world.BASKET, "web"),
    (world.ORDER, "web"),
    (world.ITEM, "web"),
    (world.CLICK, "web"),  # YAUAA said Unknown
    (world.SCREEN, "mobile"),  # a Phone
    (world.VIDEO, "web"),
    (world.GUEST_SCREEN, "tablet"),
]
DEVICE_SQL = (
    "select message_id, device_type from {schema}stg_events__tracks union all "
    "select message_id, device_type from {schema}stg_events__pages union all "
    "select message_id, device_type from {schema}stg_events__screens order by 1"
)


def _presets(root: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = root / "presets.yml"
    path.write_text(world.presets_yaml())
    monkeypatch.setenv(PRESETS_FILE_ENV, str(path))


def test_snowplow_reads_atomic_columns_by_default(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The preset's property defaults are the atomic table's ecommerce columns, not Segment's names."""
    _presets(tmp_path, monkeypatch)
    events = dbt_vars()["source_presets"]["events"]
    assert events["preset"] == "snowplow"
    assert events["event_properties"] == {
        "product_id": "se_label",
        "product_category": "ti_category",
        "price": "se_value",
        "order_id": "tr_orderid",
        "revenue": "tr_total",
    }


def test_a_schema_without_snowplows_events_table_is_a_config_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Checked before a build: the declared schema must hold `events` with Snowplow's `event_id`."""
    from orchestration.source_presets import SourcePresetConfigError
    from orchestration.source_presets.check import check_presets

    settings = world_settings(tmp_path)
    _presets(tmp_path, monkeypatch)
    settings.published_db.parent.mkdir(parents=True, exist_ok=True)
    con = duckdb.connect(str(settings.published_db))
    con.execute(f"create schema {world.SCHEMA}")
    con.close()
    with pytest.raises(SourcePresetConfigError, match=f"no events table in schema '{world.SCHEMA}'"):
        check_presets(settings)
    con = duckdb.connect(str(settings.published_db))
    con.execute(f"create table {world.SCHEMA}.events (id varchar, event varchar)")
    con.close()
    with pytest.raises(SourcePresetConfigError, match=f"{world.SCHEMA}.events has no 'event_id' column"):
        check_presets(settings)
    con = duckdb.connect(str(settings.published_db))
    con.execute(f"alter table {world.SCHEMA}.events rename column id to event_id")
    con.close()
    assert check_presets(settings).preset("events") == "snowplow"


@pytest.fixture(scope="module")
def duckdb_build(tmp_path_factory: pytest.TempPathFactory) -> Settings:
    """The pipeline, narrowed to what the tests read, on a world whose only events are Snowplow's (the demo
    files are empty). The preset's configuration keeps the dbt unit tests of the selected models."""
    root = tmp_path_factory.mktemp("snowplow-world")
    settings = world_settings(root)
    write_world(settings.data_dir, {})
    settings.published_db.parent.mkdir(parents=True, exist_ok=True)
    con = duckdb.connect(str(settings.published_db))
    world.create(lambda sql, params: con.execute(sql, params))
    con.close()
    with pytest.MonkeyPatch.context() as monkeypatch:
        _presets(root, monkeypatch)
        assert build(settings, select=DUCKDB_SELECTION).published
    return settings


def _query(settings: Settings, sql: str) -> list[tuple[Any, ...]]:
    return get_warehouse(settings).query_published(sql)


def test_snowplow_events_land_in_the_staging_contract(duckdb_build: Settings) -> None:
    columns = _query(
        duckdb_build,
        "select column_name from information_schema.columns where table_name = 'stg_events__tracks' "
        "order by ordinal_position",
    )
    assert [c for (c,) in columns] == TRACK_COLUMNS
    assert _query(duckdb_build, TRACKS_SQL.format(schema="")) == TRACKS
    assert _query(duckdb_build, DEVICE_SQL.format(schema="")) == DEVICE_TYPES
    assert _query(
        duckdb_build,
        "select message_id, anonymous_id, user_id, page_path, page_full_url, page_title, referrer, utm_source "
        "from stg_events__pages",
    ) == [
        (
            world.PAGE, "d-ann", None, "/shoes", "https://shop.example.com/shoes?utm_source=news", "Shoes",
            "https://news.example.org/", "news",
        )
    ]  # fmt: skip
    # The app's screen views: the name from the self-describing event's JSON, the anonymous id from the
    # client_session context; the guest's cut-short JSON costs the name only, and the row is staged.
    assert _query(
        duckdb_build,
        "select message_id, screen_name, anonymous_id, user_id, event_channel from stg_events__screens "
        "order by 1",
    ) == [
        (world.SCREEN, "Home", "c-bob-app", "8", "app"),
        (world.GUEST_SCREEN, None, "c-guest-app", None, "app"),
    ]


def test_page_pings_are_not_staged(duckdb_build: Settings) -> None:
    assert _query(duckdb_build, f"select count(*) from events where event_id like '{world.PING}%'") == [(0,)]


def test_duplicates_are_removed_keeping_the_first_collected(duckdb_build: Settings) -> None:
    # The copy collected first (second in the table) is staged, with its own derived_tstamp.
    assert _query(
        duckdb_build,
        f"select occurred_at, received_at from stg_events__tracks where message_id = '{world.ORDER}'",
    ) == [(dt.datetime(2025, 4, 2, 9, 0, 0), dt.datetime(2025, 4, 2, 9, 0, 1))]
    assert _query(
        duckdb_build,
        "select table_name, record_id, quarantine_reason from quarantined_rows "
        "where source_name = 'events' order by 1, 2",
    ) == [
        ("pages", world.PAGE, "duplicate delivery"),
        ("tracks", world.ORDER, "duplicate delivery"),
        ("tracks", world.NO_ACTION, "missing event name"),
    ]
    assert _query(
        duckdb_build,
        "select table_name, row_count from quarantine_summary "
        "where source_name = 'events' and quarantine_reason = 'duplicate delivery' order by 1",
    ) == [("pages", 1), ("tracks", 1)]


def test_a_login_is_an_identify_and_joins_the_cookie_to_the_user(duckdb_build: Settings) -> None:
    # Snowplow has no identify call: the first event carrying both ids is the login.
    # Bob's app: its device user id (client_session) with his user id is a login too.
    assert _query(
        duckdb_build, "select message_id, anonymous_id, user_id from stg_events__identifies order by 1"
    ) == [(f"{world.ORDER}:identify", "d-ann", "7"), (f"{world.SCREEN}:identify", "c-bob-app", "8")]
    # Seen by her browser cookie only (the page view, the basket), then as user 7: one customer.
    customers = dict(
        _query(
            duckdb_build,
            f"select event_id, customer_id from events where event_id in "
            f"('{world.PAGE}', '{world.BASKET}', '{world.ORDER}', '{world.CLICK}', '{world.VIDEO}')",
        )
    )
    ann = customers[world.ORDER]
    assert ann is not None
    assert customers[world.PAGE] == customers[world.BASKET] == customers[world.CLICK] == ann
    assert customers[world.VIDEO] != ann


def test_postgres_stages_the_same_world(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    require_postgres()
    import psycopg2

    settings = world_settings(tmp_path, "postgres", pg_schema="tessera_snowplow")
    write_world(settings.data_dir, {})
    con = psycopg2.connect(**settings.postgres.connect_kwargs())
    con.autocommit = True
    with con.cursor() as cur:
        # Snowplow's Postgres loader types event_id as uuid.
        world.create(lambda sql, params: cur.execute(sql, params), placeholder="%s", uuid_type="uuid")
    _presets(tmp_path, monkeypatch)
    warehouse = get_warehouse(settings)
    warehouse.prepare_build()
    warehouse.load_raw(settings.raw_dir)
    results = run_dbt(settings, ["build", "--select", STAGING])["results"]
    # A warning is expected: the world's structured event without an action is one track in six.
    failed = [r["unique_id"] for r in results if r["status"] not in ("success", "pass", "warn")]
    assert results and not failed
    build_schema = settings.postgres.build_schema
    try:
        with con.cursor() as cur:
            cur.execute(
                "select column_name from information_schema.columns where table_schema = %s "
                "and table_name = 'stg_events__tracks' order by ordinal_position",
                (build_schema,),
            )
            assert [c for (c,) in cur.fetchall()] == TRACK_COLUMNS
            cur.execute(TRACKS_SQL.format(schema=f'"{build_schema}".'))
            assert cur.fetchall() == TRACKS
            cur.execute(DEVICE_SQL.format(schema=f'"{build_schema}".'))
            assert cur.fetchall() == DEVICE_TYPES
            cur.execute(
                f'select occurred_at from "{build_schema}".stg_events__tracks where message_id = %s',
                (world.ORDER,),
            )
            assert cur.fetchall() == [(dt.datetime(2025, 4, 2, 9, 0, 0),)]
            cur.execute(
                f'select message_id, anonymous_id, user_id from "{build_schema}".stg_events__identifies order by 1'
            )
            assert cur.fetchall() == [
                (f"{world.ORDER}:identify", "d-ann", "7"),
                (f"{world.SCREEN}:identify", "c-bob-app", "8"),
            ]
            cur.execute(
                f'select message_id, delivery_number, quarantine_reason from "{build_schema}".base_events__pages '
                "order by 2"
            )
            assert cur.fetchall() == [(world.PAGE, 1, None), (world.PAGE, 2, "duplicate delivery")]
            cur.execute(
                f'select message_id, screen_name, anonymous_id, user_id from "{build_schema}".stg_events__screens '
                "order by 1"
            )
            assert cur.fetchall() == [
                (world.SCREEN, "Home", "c-bob-app", "8"),
                (world.GUEST_SCREEN, None, "c-guest-app", None),
            ]
            # A table that is not Snowplow's: the build stops, naming the table and the missing column.
            cur.execute(f"alter table {world.SCHEMA}.events rename column domain_userid to duid")
        results = run_dbt(settings, ["build", "--select", "base_events__snowplow_events"])["results"]
        [broken] = [r for r in results if r["unique_id"] == "model.tessera.base_events__snowplow_events"]
        assert broken["status"] == "error"
        assert "snowplow_atomic.events has no column domain_userid" in broken["message"]
    finally:
        with con.cursor() as cur:
            cur.execute(f"drop schema {world.SCHEMA} cascade")
        con.close()


@pytest.mark.parametrize("target", ["duckdb", "postgres"])
def test_legacy_contexts_and_shredded_tables_give_the_same_ids(
    target: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The older loaders' single `contexts` / `derived_contexts` / `unstruct_event` JSON columns and the
    Redshift-style shredded client_session, screen_view and YAUAA tables: the same screen names, device user
    ids and device types as the wide-row columns give. The guest's contexts and screen view JSON are cut short (null, not a failed build); the
    shredded tables still have its id and its screen's name."""
    if target == "postgres":
        require_postgres()
    import psycopg2

    settings = world_settings(tmp_path, target, pg_schema="tessera_snowplow_legacy")
    write_world(settings.data_dir, {})
    if target == "duckdb":
        settings.published_db.parent.mkdir(parents=True, exist_ok=True)
        duck = duckdb.connect(str(settings.published_db))
        world.create(lambda sql, params: duck.execute(sql, params), legacy=True)
        duck.close()
    else:
        pg = psycopg2.connect(**settings.postgres.connect_kwargs())
        pg.autocommit = True
        with pg.cursor() as cur:
            world.create(
                lambda sql, params: cur.execute(sql, params), placeholder="%s", uuid_type="uuid", legacy=True
            )
    _presets(tmp_path, monkeypatch)
    warehouse = get_warehouse(settings)
    warehouse.prepare_build()
    warehouse.load_raw(settings.raw_dir)
    try:
        results = run_dbt(settings, ["build", "--select", STAGING])["results"]
        failed = [r["unique_id"] for r in results if r["status"] not in ("success", "pass", "warn")]
        assert results and not failed
        screens = "select message_id, screen_name, anonymous_id, user_id from {schema}stg_events__screens order by 1"
        identifies = "select message_id, anonymous_id, user_id from {schema}stg_events__identifies order by 1"
        if target == "duckdb":
            build = duckdb.connect(str(settings.build_db), read_only=True)
            got_screens = build.execute(screens.format(schema="")).fetchall()
            got_identifies = build.execute(identifies.format(schema="")).fetchall()
            got_tracks = build.execute(TRACKS_SQL.format(schema="")).fetchall()
            got_devices = build.execute(DEVICE_SQL.format(schema="")).fetchall()
            build.close()
        else:
            schema = f'"{settings.postgres.build_schema}".'
            with pg.cursor() as cur:
                cur.execute(screens.format(schema=schema))
                got_screens = cur.fetchall()
                cur.execute(identifies.format(schema=schema))
                got_identifies = cur.fetchall()
                cur.execute(TRACKS_SQL.format(schema=schema))
                got_tracks = cur.fetchall()
                cur.execute(DEVICE_SQL.format(schema=schema))
                got_devices = cur.fetchall()
        assert got_screens == [
            (world.SCREEN, "Home", "c-bob-app", "8"),
            (world.GUEST_SCREEN, "Catalogue", "c-guest-app", None),
        ]
        assert got_identifies == [
            (f"{world.ORDER}:identify", "d-ann", "7"),
            (f"{world.SCREEN}:identify", "c-bob-app", "8"),
        ]
        assert got_tracks == TRACKS
        # The YAUAA context found by its schema in `derived_contexts` (after the IAB one), and the guest's in
        # the shredded table.
        assert got_devices == DEVICE_TYPES
    finally:
        if target == "postgres":
            with pg.cursor() as cur:
                cur.execute(f"drop schema {world.SCHEMA} cascade")
            pg.close()
