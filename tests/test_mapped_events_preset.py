"""The mapped events preset: an event table of the user's own (a small world written here by hand: an app's
`app.app_events`, its columns named as the app names them) is mapped in YAML and staged into the events
staging contract, on DuckDB (the pipeline, into the events mart) and on Postgres (staging)."""

from __future__ import annotations

import datetime as dt
import json
import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import duckdb
import pytest

from orchestration.build.pipeline import build, run_dbt
from orchestration.settings import Settings
from orchestration.source_presets import PRESETS_FILE_ENV, SourcePresetConfigError, dbt_vars, load_presets
from orchestration.source_presets.check import check_presets
from orchestration.warehouse.audit import PublishBlocked
from orchestration.warehouse.registry import get_warehouse
from tests.conftest import require_postgres
from tests.test_segment_preset import TRACK_COLUMNS
from tests.worlds import dbt_unit_tests_run_once, world_settings, write_world

SCHEMA = "app"
TABLE = "app_events"
#: The app's table: its own names; `occurred_at` is text (an app writing ISO strings), `app_version` a
#: column the declaration does not map (added by a later release of the app: schema drift), and so is
#: `seller's note`, whose name holds a quote (a header a loader took as it was).
COLUMNS = {
    "event_id": "varchar",
    "event_type": "varchar",
    "occurred_at": "varchar",
    "account_id": "varchar",
    "device_id": "varchar",
    "payload": "varchar",
    "app_version": "varchar",
    "seller's note": "varchar",
    "_loaded_at": "timestamp",
}
PAGE, BASKET, ORDER, VIDEO, BAD_TIME, NAMELESS, JUNK, RELATIVE_TIME = (f"evt-{n}" for n in range(1, 9))


def _row(
    eid: str, day: int, event: str, device: str | None, account: str | None, **extra: Any
) -> dict[str, Any]:
    return {
        "event_id": eid,
        "event_type": event,
        "occurred_at": f"2025-04-{day:02d}T09:00:00",
        "account_id": account,
        "device_id": device,
        "payload": None,
        "app_version": "2.0.0",
        "seller's note": None,
        "_loaded_at": f"2025-04-{day:02d} 09:05:00",
    } | extra


# Ann browses anonymously on device d-ann (a page view, a basket add), then buys signed in as account 7:
# the purchase was delivered twice, the second copy loaded half an hour later. Bob's device plays a video
# (its payload cut short in transit; the app's new version column is set). One row's timestamp is no date
# (April 31st), one is a word Postgres would read as a date ("yesterday"), one has no event name, and one's device id is a placeholder ("undefined").
ORDER_ROW = _row(
    ORDER,
    2,
    "Purchase",
    "d-ann",
    "7",
    payload=json.dumps({"order_id": "1001", "total": 99.0, "currency": "GBP"}),
)
ROWS: list[dict[str, Any]] = [
    _row(
        PAGE, 1, "page_view", "d-ann", None,
        payload=json.dumps({
            "url": "https://shop.example.com/shoes?utm_source=news", "path": "/shoes", "title": "Shoes",
            "referrer": "https://news.example.org/", "utm_source": "news",
        }),
    ),
    _row(
        BASKET, 1, "Product Added", "d-ann", None,
        payload=json.dumps({"product_id": "P-1", "category": " Shoes ", "price": 49.5}),
    ),
    ORDER_ROW,
    ORDER_ROW | {"_loaded_at": "2025-04-02 09:35:00"},
    _row(VIDEO, 3, "Play-Video", "d-bob", None, payload='{"video": "intro', app_version="2.1.0",
         **{"seller's note": "gift wrap"}),
    _row(BAD_TIME, 3, "Clicked", "d-bob", None, occurred_at="2025-04-31T09:00:00"),
    _row(NAMELESS, 3, " ", "d-bob", None),
    _row(JUNK, 3, "Clicked", "undefined", None),
    _row(RELATIVE_TIME, 3, "Clicked", "d-bob", None, occurred_at="yesterday"),
]  # fmt: skip

PRESETS_YAML = f"""\
sources:
  events:
    preset: mapped
    schema: {SCHEMA}
    table: {TABLE}
    columns:
      event: event_type
      timestamp: occurred_at
      user_id: account_id
      anonymous_id: device_id
      message_id: event_id
      properties: payload
      loaded_at: _loaded_at
    page_event: page_view
    event_names:
      Purchase: order_completed
    event_properties:
      revenue: total
"""

#: What the DuckDB tests read (staging, the events mart, the quarantine tables) and everything upstream.
DUCKDB_SELECTION = ["+events", "+quarantine_summary", "+stg_events__screens", "+base_events__mapped_events"]
STAGING = "+path:models/staging/events"

#: (message_id, event_name, event_text, anonymous_id, user_id, product_id, product_category, price, order_id,
#: revenue, occurred_at) of the staged tracks.
TRACKS = [
    (BASKET, "product_added", "Product Added", "d-ann", None, "P-1", "shoes", 49.5, None, None, dt.datetime(2025, 4, 1, 9)),
    (ORDER, "order_completed", "Purchase", "d-ann", "7", None, None, None, "1001", 99.0, dt.datetime(2025, 4, 2, 9)),
    (VIDEO, "play_video", "Play-Video", "d-bob", None, None, None, None, None, None, dt.datetime(2025, 4, 3, 9)),
    (JUNK, "clicked", "Clicked", "undefined", None, None, None, None, None, None, dt.datetime(2025, 4, 3, 9)),
]  # fmt: skip
TRACKS_SQL = (
    "select message_id, event_name, event_text, anonymous_id, user_id, product_id, product_category, "
    "cast(price as double precision), order_id, cast(revenue as double precision), occurred_at "
    "from {schema}stg_events__tracks order by 1"
)
PAGES = [
    (PAGE, "d-ann", "/shoes", "https://shop.example.com/shoes?utm_source=news", "Shoes", "https://news.example.org/", "news")
]  # fmt: skip
PAGES_SQL = (
    "select message_id, anonymous_id, page_path, page_full_url, page_title, referrer, utm_source "
    "from {schema}stg_events__pages"
)
IDENTIFIES = [(f"{ORDER}:identify", "d-ann", "7")]
IDENTIFIES_SQL = "select message_id, anonymous_id, user_id from {schema}stg_events__identifies order by 1"
QUARANTINED = [
    ("tracks", ORDER, "duplicate delivery"),
    ("tracks", BAD_TIME, "missing timestamp"),
    ("tracks", NAMELESS, "missing event name"),
    ("tracks", RELATIVE_TIME, "missing timestamp"),
]


def create(execute: Callable[[str, list[Any]], Any], placeholder: str = "?") -> None:
    """The app's event table, through `execute(sql, params)` (DuckDB `?`, psycopg2 `%s`)."""
    execute(f"drop schema if exists {SCHEMA} cascade", [])
    execute(f"create schema {SCHEMA}", [])
    columns = ", ".join(f'"{name}" {kind}' for name, kind in COLUMNS.items())
    execute(f"create table {SCHEMA}.{TABLE} ({columns})", [])
    for row in ROWS:
        marks = ", ".join(placeholder for _ in row)
        names = ", ".join(f'"{name}"' for name in row)
        execute(f"insert into {SCHEMA}.{TABLE} ({names}) values ({marks})", list(row.values()))


def _presets(root: Path, monkeypatch: pytest.MonkeyPatch, text: str = PRESETS_YAML) -> Path:
    path = root / "presets.yml"
    path.write_text(text)
    monkeypatch.setenv(PRESETS_FILE_ENV, str(path))
    return path


# --- the configuration (no build) ------------------------------------------------------------------------


def test_the_declaration_becomes_the_dbt_vars(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _presets(tmp_path, monkeypatch)
    events = dbt_vars()["source_presets"]["events"]
    assert events["table"] == TABLE
    assert events["page_event"] == "page_view"
    assert events["columns"] == {
        "event": "event_type", "timestamp": "occurred_at", "user_id": "account_id", "anonymous_id": "device_id",
        "message_id": "event_id", "properties": "payload", "loaded_at": "_loaded_at",
    }  # fmt: skip
    # event_properties name properties (Segment's spec names by default), read from the properties JSON.
    assert events["event_properties"]["revenue"] == "total"
    assert events["event_properties"]["product_category"] == "category"


@pytest.mark.parametrize(
    ("change", "key", "reason"),
    [
        (("      event: event_type\n", "      event: event_type\n      session: session_id\n"),
         "sources.events.columns.session", "unknown column role; the roles are event, timestamp, user_id"),
        (("      timestamp: occurred_at\n", ""),
         "sources.events.columns.timestamp", "required column role is missing: the column holding when the event"),
        (("      user_id: account_id\n      anonymous_id: device_id\n", ""),
         "sources.events.columns", "map at least one of user_id and anonymous_id"),
        (("event: event_type", "event: event type"),
         "sources.events.columns.event", "'event type' is not a column name"),
        (("message_id: event_id", "message_id: event_type"),
         "sources.events.columns.message_id", "column 'event_type' plays two roles (event and message_id)"),
        ((f"    table: {TABLE}\n", ""), "sources.events.table", "the mapped preset reads one event table"),
        ((f"    table: {TABLE}\n", f"    table: {TABLE}\n    table_prefix: app_\n"),
         "sources.events.table_prefix", "it takes no table_prefix"),
        (("preset: mapped", "preset: snowplow"), "sources.events.table",
         "table belongs to the mapped events preset; the snowplow preset takes none"),
    ],
)  # fmt: skip
def test_a_wrong_declaration_is_one_line_naming_file_and_key(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, change: tuple[str, str], key: str, reason: str
) -> None:
    assert change[0] in PRESETS_YAML
    _presets(tmp_path, monkeypatch, PRESETS_YAML.replace(*change))
    with pytest.raises(SourcePresetConfigError) as raised:
        load_presets()
    message = str(raised.value)
    assert "\n" not in message
    assert raised.value.key == key
    assert raised.value.file and raised.value.file.endswith("presets.yml")
    assert reason in message


def test_the_check_names_a_mapped_column_the_table_lacks(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Before a build: the table must exist, and hold every column the declaration maps."""
    settings = world_settings(tmp_path)
    _presets(tmp_path, monkeypatch)
    settings.published_db.parent.mkdir(parents=True, exist_ok=True)
    con = duckdb.connect(str(settings.published_db))
    con.execute(f"create schema {SCHEMA}")
    con.close()
    with pytest.raises(SourcePresetConfigError, match=f"no table {TABLE} in schema '{SCHEMA}'"):
        check_presets(settings)
    con = duckdb.connect(str(settings.published_db))
    create(lambda sql, params: con.execute(sql, params))
    con.execute(f"alter table {SCHEMA}.{TABLE} drop column account_id")
    con.close()
    with pytest.raises(SourcePresetConfigError) as raised:
        check_presets(settings)
    assert f"{SCHEMA}.{TABLE} has no column 'account_id'" in str(raised.value)
    assert raised.value.key == "sources.events.columns.user_id"


def test_an_erase_compares_exact_terms_with_the_mapped_id_columns(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The table's identifier columns are the ones mapped as user_id and anonymous_id; another table of the
    same schema is not this source's."""
    from orchestration.privacy.id_columns import IdentifierColumns
    from orchestration.privacy.loaders import loader_sources

    _presets(tmp_path, monkeypatch)
    [source] = loader_sources(world_settings(tmp_path))
    assert source.holds(SCHEMA, TABLE.upper())
    assert not source.holds(SCHEMA, f"{TABLE}_archive")
    assert not source.holds("other", TABLE)
    columns = IdentifierColumns.of([source])
    assert columns(SCHEMA, TABLE) == {"account_id", "device_id"}
    assert columns(SCHEMA, "app_settings") is None


# --- one DuckDB build of the world, shared ----------------------------------------------------------------


@pytest.fixture(scope="module")
def duckdb_build(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Settings]:
    """The pipeline, narrowed to what the tests read, on a world whose only events are the app's (the demo
    files are empty)."""
    root = tmp_path_factory.mktemp("mapped-world")
    settings = world_settings(root)
    write_world(settings.data_dir, {})
    settings.published_db.parent.mkdir(parents=True, exist_ok=True)
    con = duckdb.connect(str(settings.published_db))
    create(lambda sql, params: con.execute(sql, params))
    con.close()
    with pytest.MonkeyPatch.context() as monkeypatch, dbt_unit_tests_run_once():
        # dbt's log of this module's builds, in a folder of its own: the project's logs/dbt.log is written by
        # the other worker's builds too, and rotated.
        monkeypatch.setenv("DBT_LOG_PATH", str(root / "dbt-logs"))
        _presets(root, monkeypatch)
        assert build(settings, select=DUCKDB_SELECTION).published
        yield settings


def _dbt_log() -> Path:
    """dbt's log file of this module's builds (DBT_LOG_PATH, set by duckdb_build)."""
    return Path(os.environ["DBT_LOG_PATH"]) / "dbt.log"


def _query(settings: Settings, sql: str) -> list[tuple[Any, ...]]:
    return get_warehouse(settings).query_published(sql)


def test_events_land_in_the_staging_contract(duckdb_build: Settings) -> None:
    columns = _query(
        duckdb_build,
        "select column_name from information_schema.columns where table_name = 'stg_events__tracks' "
        "order by ordinal_position",
    )
    assert [c for (c,) in columns] == TRACK_COLUMNS
    assert _query(duckdb_build, TRACKS_SQL.format(schema="")) == TRACKS
    assert _query(duckdb_build, PAGES_SQL.format(schema="")) == PAGES
    assert _query(duckdb_build, "select count(*) from stg_events__screens") == [(0,)]


def test_duplicates_and_malformed_rows_are_quarantined_and_counted(duckdb_build: Settings) -> None:
    assert (
        _query(
            duckdb_build,
            "select table_name, record_id, quarantine_reason from quarantined_rows "
            "where source_name = 'events' order by 1, 2",
        )
        == QUARANTINED
    )
    assert _query(
        duckdb_build,
        "select quarantine_reason, row_count from quarantine_summary where source_name = 'events' order by 1",
    ) == [("duplicate delivery", 1), ("missing event name", 1), ("missing timestamp", 2)]
    # The copy loaded first is the one staged.
    assert _query(duckdb_build, f"select loaded_at from stg_events__tracks where message_id = '{ORDER}'") == [
        (dt.datetime(2025, 4, 2, 9, 5),)
    ]


def test_an_event_with_both_ids_links_the_device_to_the_user(duckdb_build: Settings) -> None:
    assert _query(duckdb_build, IDENTIFIES_SQL.format(schema="")) == IDENTIFIES
    customers = dict(
        _query(
            duckdb_build,
            f"select event_id, customer_id from events where event_id in ('{PAGE}', '{BASKET}', '{ORDER}', '{VIDEO}')",
        )
    )
    ann = customers[ORDER]
    assert ann is not None
    assert customers[PAGE] == customers[BASKET] == ann
    assert customers[VIDEO] != ann
    # A placeholder device id is staged, flagged for identity's guards.
    assert _query(duckdb_build, "select message_id from stg_events__tracks where is_junk_anonymous_id") == [
        (JUNK,)
    ]


def test_unmapped_columns_are_carried_into_the_properties(duckdb_build: Settings) -> None:
    """The app's new columns are properties of every event (one named with a quote too); a payload that
    is not JSON costs its own keys only."""
    properties = {
        message_id: json.loads(text)
        for message_id, text in _query(
            duckdb_build,
            "select message_id, properties from base_events__mapped_events where delivery_number = 1",
        )
    }
    assert properties[VIDEO] == {"app_version": "2.1.0", "seller's note": "gift wrap"}
    assert properties[ORDER] == {
        "app_version": "2.0.0",
        "seller's note": None,
        "order_id": "1001",
        "total": 99.0,
        "currency": "GBP",
    }
    # Reported in dbt's log of the build (written since the build started).
    line = (
        f"events preset mapped: {SCHEMA}.{TABLE} columns carried into properties: app_version, seller's note"
    )
    assert line in _dbt_log().read_text()


# --- Postgres: the same world, and a mapped column gone --------------------------------------------------


def test_postgres_stages_the_same_world_and_stops_on_a_missing_column(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    require_postgres()
    import psycopg2

    settings = world_settings(tmp_path, "postgres", pg_schema="tessera_mapped")
    write_world(settings.data_dir, {})
    con = psycopg2.connect(**settings.postgres.connect_kwargs())
    con.autocommit = True
    _presets(tmp_path, monkeypatch)
    try:
        with con.cursor() as cur:
            create(lambda sql, params: cur.execute(sql, params), placeholder="%s")
        warehouse = get_warehouse(settings)
        warehouse.prepare_build()
        warehouse.load_raw(settings.raw_dir)
        with dbt_unit_tests_run_once():
            results = run_dbt(settings, ["build", "--select", STAGING])["results"]
        failed = [r["unique_id"] for r in results if r["status"] not in ("success", "pass", "warn")]
        assert results and not failed
        schema = f'"{settings.postgres.build_schema}".'
        with con.cursor() as cur:
            cur.execute(TRACKS_SQL.format(schema=schema))
            assert cur.fetchall() == TRACKS
            cur.execute(PAGES_SQL.format(schema=schema))
            assert cur.fetchall() == PAGES
            cur.execute(IDENTIFIES_SQL.format(schema=schema))
            assert cur.fetchall() == IDENTIFIES
            cur.execute(
                f"select message_id, quarantine_reason from {schema}base_events__tracks "
                "where quarantine_reason is not null order by 1"
            )
            assert cur.fetchall() == [(message_id, reason) for _, message_id, reason in QUARANTINED]
            cur.execute(
                f"select properties from {schema}base_events__mapped_events where message_id = %s", (VIDEO,)
            )
            assert [json.loads(text) for (text,) in cur.fetchall()] == [
                {"app_version": "2.1.0", "seller's note": "gift wrap"}
            ]
            # The app's next release renames the device column: the build stops, naming table and column.
            cur.execute(f"alter table {SCHEMA}.{TABLE} rename column device_id to device")
        with dbt_unit_tests_run_once():
            results = run_dbt(settings, ["build", "--select", "base_events__mapped_events"])["results"]
        [broken] = [r for r in results if r["unique_id"] == "model.tessera.base_events__mapped_events"]
        assert broken["status"] == "error"
        assert f"{SCHEMA}.{TABLE} has no column device_id" in broken["message"]
    finally:
        with con.cursor() as cur:
            cur.execute(f"drop schema if exists {SCHEMA} cascade")
        con.close()


def test_a_missing_mapped_column_stops_the_build_and_nothing_is_published(
    duckdb_build: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Last of the module's DuckDB tests: it changes the shared world. The table loses a mapped column: the
    build stops on it, naming the table and the column, and the published warehouse stays as it was."""
    before = _query(duckdb_build, TRACKS_SQL.format(schema=""))
    con = duckdb.connect(str(duckdb_build.published_db))
    con.execute(f"alter table {SCHEMA}.{TABLE} rename column occurred_at to happened_at")
    con.close()
    _presets(duckdb_build.data_dir.parent, monkeypatch)
    with dbt_unit_tests_run_once(), pytest.raises(PublishBlocked) as raised:
        build(duckdb_build, select=["base_events__mapped_events+"])
    assert f"{SCHEMA}.{TABLE} has no column occurred_at" in str(raised.value)
    assert _query(duckdb_build, TRACKS_SQL.format(schema="")) == before
