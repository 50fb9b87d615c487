"""The segment preset: a Segment-shaped warehouse (tests/segment_world.py, written from Segment's documentation)
is read in place and staged into the contract the demo preset feeds, on DuckDB (the pipeline, into the events
and identity marts, from the loader's own DuckDB file) and on Postgres (staging)."""

from __future__ import annotations

import datetime as dt
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import duckdb
import pytest

from orchestration.build.pipeline import build, check_source_freshness, run_dbt
from orchestration.privacy.cluster import EraseIncomplete, SourceBusy
from orchestration.privacy.export import collect
from orchestration.privacy.ledger import Ledger, ledger_path
from orchestration.settings import Settings
from orchestration.source_presets import PRESETS_FILE_ENV
from orchestration.warehouse.audit import PublishBlocked
from orchestration.warehouse.registry import get_warehouse
from tests import segment_world
from tests.conftest import require_postgres
from tests.worlds import IDENTITY_LAYER, world_settings, write_world

#: The columns of stg_events__tracks, as the demo preset's base model gives them (the staging contract).
TRACK_COLUMNS = [
    "message_id", "anonymous_id", "user_id", "device_id", "device_type", "library_name", "event_channel",
    "ip_address", "user_agent", "page_url", "utm_source", "utm_medium", "utm_campaign", "occurred_at",
    "sent_at", "received_at", "loaded_at", "event_name", "event_text", "product_id", "product_category",
    "price", "order_id", "revenue", "delivery_number", "is_junk_anonymous_id",
]  # fmt: skip
STAGING = "+path:models/staging/events"
#: What this module's DuckDB tests read (the events staging models, quarantined_rows, the events mart,
#: customer_groups; the access export and the erase of the last test read the identity layer: customers,
#: customer_identifiers, customer_source_records) and everything upstream of it: the first build leaves out the
#: other marts (orders, traits, predictions, audiences, activation), whose tests the main world runs.
#: stg_events__screens feeds no mart. The erase in the last test rebuilds the whole project.
DUCKDB_SELECTION = [
    *IDENTITY_LAYER,
    "+events",
    "+customer_groups",
    "+quarantine_summary",
    "+stg_events__accounts",
    "+stg_events__screens",
]


#: The world's loader file, relative to the presets file: as dlt's duckdb destination would leave it.
LOADER_FILE = "loader/segment.duckdb"


def _presets(
    root: Path,
    monkeypatch: pytest.MonkeyPatch,
    preset: str = "segment",
    prefix: str = "",
    database_file: str | None = None,
) -> None:
    path = root / "presets.yml"
    path.write_text(segment_world.presets_yaml(preset, prefix, database_file))
    monkeypatch.setenv(PRESETS_FILE_ENV, str(path))


@pytest.fixture(scope="module")
def duckdb_build(tmp_path_factory: pytest.TempPathFactory) -> Settings:
    """The pipeline, narrowed to DUCKDB_SELECTION, on a world whose only events are the Segment tables (the
    demo files are empty), in the loader's own DuckDB file beside the warehouse (sources/presets.yml
    `databases:`). The preset's configuration keeps the dbt unit tests of the selected models."""
    root = tmp_path_factory.mktemp("segment-world")
    settings = world_settings(root)
    write_world(settings.data_dir, {})
    (root / LOADER_FILE).parent.mkdir(parents=True)
    con = duckdb.connect(str(root / LOADER_FILE))
    segment_world.create(lambda sql, params: con.execute(sql, params))
    con.close()
    with pytest.MonkeyPatch.context() as monkeypatch:
        _presets(root, monkeypatch, database_file=LOADER_FILE)
        assert build(settings, select=DUCKDB_SELECTION).published
    return settings


def _query(settings: Settings, sql: str) -> list[tuple[Any, ...]]:
    return get_warehouse(settings).query_published(sql)


def test_segment_calls_land_in_the_staging_contract(duckdb_build: Settings) -> None:
    columns = _query(
        duckdb_build,
        "select column_name from information_schema.columns where table_name = 'stg_events__tracks' "
        "order by ordinal_position",
    )
    assert [c for (c,) in columns] == TRACK_COLUMNS
    tracks = _query(
        duckdb_build, "select message_id, event_name, event_text from stg_events__tracks order by 1"
    )
    assert tracks == [
        ("m-basket", "product_added", "Bob's Basket"),
        ("m-order", "order_completed", "Order Completed"),
        # a custom event, named by the preset's event_names
        ("m-purchase", "order_completed", "Purchase"),
        ("m-view", "product_viewed", "Product Viewed"),
    ]


def test_screens_are_staged(duckdb_build: Settings) -> None:
    assert _query(
        duckdb_build, "select message_id, screen_name, anonymous_id, event_channel from stg_events__screens"
    ) == [("m-screen", "Home", "a-ann-phone", "app")]


def test_duplicate_deliveries_are_removed_and_quarantined(duckdb_build: Settings) -> None:
    assert _query(duckdb_build, "select count(*) from stg_events__pages where message_id = 'm-page'") == [
        (1,)
    ]
    assert _query(
        duckdb_build,
        "select source_name, table_name, record_id, quarantine_reason from quarantined_rows "
        "where source_name = 'events' order by 2, 3",
    ) == [
        # accounts rows are quarantined with the calls: one lost its id, Acme's older copy is stale
        ("events", "groups", "accounts: ", "missing group_id"),
        ("events", "groups", "accounts:acme", "duplicate delivery"),
        ("events", "groups", "m-group-blank", "missing group_id"),
        ("events", "pages", "m-page", "duplicate delivery"),
        ("events", "tracks", "m-order", "duplicate delivery"),
    ]


def test_per_event_properties_reach_the_events_mart(duckdb_build: Settings) -> None:
    events = _query(
        duckdb_build,
        "select event_id, product_id, product_category, order_id, cast(revenue as double) from events "
        "where event_id in ('m-view', 'm-order', 'm-purchase') order by 1",
    )
    assert events == [
        ("m-order", None, None, "1001", 99.0),
        ("m-purchase", None, None, "2002", 20.0),
        ("m-view", "P-1", "shoes", None, None),
    ]


def test_an_alias_links_the_previous_id_to_the_user(duckdb_build: Settings) -> None:
    # Ann's phone (a-ann-phone) viewed a page anonymously; only the alias call says it is user 7.
    [(page_customer, order_customer)] = _query(
        duckdb_build,
        "select max(case when event_id = 'm-page' then customer_id end), "
        "max(case when event_id = 'm-order' then customer_id end) from events",
    )
    assert order_customer is not None and page_customer == order_customer
    [(bob,)] = _query(duckdb_build, "select customer_id from events where event_id = 'm-purchase'")
    assert bob not in (None, order_customer)


def test_the_users_table_places_a_user_whose_identify_calls_are_gone(duckdb_build: Settings) -> None:
    # User 9 is only in `users` (latest traits): her email and user id are one customer.
    rows = _query(
        duckdb_build,
        "select identifier_type, identifier_value, customer_id from customer_identifiers "
        "where customer_id in (select customer_id from customer_identifiers "
        "where identifier_type = 'shop_customer_id' and identifier_value = '9') order by 1",
    )
    assert [(kind, value) for kind, value, _ in rows] == [
        ("email", "cy.diaz@posteo.de"),
        ("shop_customer_id", "9"),
    ]
    # Ann's users row repeats what her identify call said: still one customer.
    [(ann_customers,)] = _query(
        duckdb_build,
        "select count(distinct customer_id) from customer_identifiers "
        "where identifier_value in ('7', 'ann.lee@fastmail.com', 'a-ann')",
    )
    assert ann_customers == 1


def test_group_calls_tie_customers_to_accounts(duckdb_build: Settings) -> None:
    [(ann,)] = _query(duckdb_build, "select customer_id from events where event_id = 'm-order'")
    groups = _query(
        duckdb_build,
        "select customer_id, group_id, group_name, group_call_count from customer_groups order by group_id",
    )
    # The latest name wins; an unknown device's call is kept without a customer, not dropped.
    # The accounts table's name is the group's latest (Globex renamed itself in a call that is gone),
    # and a group only it still knows is kept, without a customer or calls.
    assert groups == [
        (ann, "acme", "Acme Limited", 2),
        (None, "globex", "Globex Corporation", 1),
        (None, "umbrella", "Umbrella", 0),
    ]


def test_the_accounts_table_is_staged_latest_row_per_group(duckdb_build: Settings) -> None:
    assert _query(
        duckdb_build,
        "select group_id, group_name, group_industry, group_plan, received_at from stg_events__accounts "
        "order by 1",
    ) == [
        ("acme", "Acme Limited", "Retail", "enterprise", dt.datetime(2025, 3, 6, 10)),
        ("globex", "Globex Corporation", None, None, dt.datetime(2025, 3, 7, 10)),
        ("umbrella", "Umbrella", None, "free", dt.datetime(2025, 3, 1, 10)),
    ]
    # The calls stay calls: no accounts row among them.
    assert _query(
        duckdb_build, "select count(*) from stg_events__groups where message_id like 'accounts:%'"
    ) == [(0,)]


def test_postgres_stages_the_same_world(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    require_postgres()
    import psycopg2

    settings = world_settings(tmp_path, "postgres", pg_schema="tessera_segment")
    write_world(settings.data_dir, {})
    con = psycopg2.connect(**settings.postgres.connect_kwargs())
    con.autocommit = True
    with con.cursor() as cur:
        # RudderStack's shape is Segment's; here its tables also carry a prefix.
        segment_world.create(
            lambda sql, params: cur.execute(sql, params), placeholder="%s", prefix="web_", with_time_zone=True
        )
    _presets(tmp_path, monkeypatch, "rudderstack", prefix="web_")
    # dbt's session is not on UTC: the loader's `timestamp with time zone` must still stage as UTC.
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
            "select column_name from information_schema.columns where table_schema = %s "
            "and table_name = 'stg_events__tracks' order by ordinal_position",
            (build_schema,),
        )
        assert [c for (c,) in cur.fetchall()] == TRACK_COLUMNS
        cur.execute(
            f'select message_id, event_name, order_id, product_category from "{build_schema}".stg_events__tracks '
            "order by 1"
        )
        assert cur.fetchall() == [
            ("m-basket", "product_added", None, None),
            ("m-order", "order_completed", "1001", None),
            ("m-purchase", "order_completed", "2002", None),
            ("m-view", "product_viewed", None, "shoes"),
        ]
        cur.execute(
            f'select message_id, anonymous_id, user_id from "{build_schema}".stg_events__identifies order by 1'
        )
        assert cur.fetchall() == [
            ("m-alias", "a-ann-phone", "7"),
            ("m-identify", "a-ann", "7"),
            ("m-identify-bob", "a-bob", "8"),
            ("users:7", None, "7"),
            ("users:9", None, "9"),
        ]
        cur.execute(
            f'select message_id, group_id, group_name from "{build_schema}".stg_events__groups order by 1'
        )
        assert cur.fetchall() == [
            ("m-group", "acme", "Acme Ltd"),
            ("m-group-renamed", "acme", "Acme Limited"),
            ("m-group-stranger", "globex", "Globex"),
        ]
        cur.execute(
            f'select group_id, group_name, group_plan from "{build_schema}".stg_events__accounts order by 1'
        )
        assert cur.fetchall() == [
            ("acme", "Acme Limited", "enterprise"),
            ("globex", "Globex Corporation", None),
            ("umbrella", "Umbrella", "free"),
        ]
        # A warehouse whose loader has not created `accounts` (no group has traits yet) still builds.
        cur.execute(f"drop table {segment_world.SCHEMA}.web_accounts")
    groups = "base_events__groups stg_events__groups stg_events__accounts"
    results = run_dbt(settings, ["build", "--select", groups])["results"]
    assert results and all(r["status"] in ("success", "pass") for r in results)
    with con.cursor() as cur:
        cur.execute(f'select count(*) from "{build_schema}".stg_events__accounts')
        assert cur.fetchall() == [(0,)]
        cur.execute(f'select count(*) from "{build_schema}".stg_events__groups')
        assert cur.fetchall() == [(3,)]
        cur.execute(
            f'select occurred_at, received_at from "{build_schema}".stg_events__tracks where message_id = %s',
            ("m-order",),
        )
        assert cur.fetchall() == [(dt.datetime(2025, 3, 2, 10), dt.datetime(2025, 3, 2, 10))]
        cur.execute(f'select count(*) from "{build_schema}".stg_events__pages')
        assert cur.fetchall() == [(1,)]
        cur.execute(f'select message_id, screen_name, user_id from "{build_schema}".stg_events__screens')
        assert cur.fetchall() == [("m-screen", "Home", "7")]
        cur.execute(f"drop schema {segment_world.SCHEMA} cascade")
    con.close()


def test_a_loader_file_is_read_in_place_and_its_writes_start_the_next_build(duckdb_build: Settings) -> None:
    """Nothing of the loader's file is copied into the published warehouse but what staging made of it;
    the landing check sees a write to the file without opening it, and the next build reads the write."""
    from orchestration.build.landing import landed_since_publish, what_landed

    root = duckdb_build.published_db.parent.parent
    assert _query(
        duckdb_build,
        f"select count(*) from information_schema.tables where table_schema = '{segment_world.SCHEMA}'",
    ) == [(0,)]
    with pytest.MonkeyPatch.context() as monkeypatch:
        _presets(root, monkeypatch, database_file=LOADER_FILE)
        landed = what_landed(duckdb_build)
        # The file stands for its tables: none of them is read one by one.
        assert "database:segment" in landed and not [name for name in landed if name.startswith("table:")]
        assert landed_since_publish(duckdb_build)[0] == []
        # The loader's next sync: one more track call (a separate process, as a loader is).
        con = duckdb.connect(str(root / LOADER_FILE))
        con.execute(
            f"insert into {segment_world.SCHEMA}.tracks (id, anonymous_id, user_id, event, event_text, "
            "\"timestamp\", received_at, sent_at, original_timestamp, uuid_ts) select 'm-late', 'a-ann', '7', "
            "'order_completed', 'Order Completed', ts, ts, ts, ts, ts from (select timestamp '2025-03-20 10:00' ts)"
        )
        con.close()
        assert landed_since_publish(duckdb_build)[0] == ["database:segment"]
        # The next build reads the write in place.
        warehouse = get_warehouse(duckdb_build)
        warehouse.prepare_build()
        warehouse.load_raw(duckdb_build.raw_dir)
        results = run_dbt(duckdb_build, ["build", "--select", "base_events__tracks stg_events__tracks"])[
            "results"
        ]
        assert results and all(r["status"] in ("success", "pass") for r in results)
        # dbt's source freshness reads the file too (the hook attaches it for every invocation that runs
        # hooks), and a compile, which runs none, finds the per-event tables in it.
        check_source_freshness(duckdb_build)
        compiled = run_dbt(duckdb_build, ["compile", "--select", "base_events__tracks"])["results"]
        assert "order_completed" in compiled[0]["compiled_code"]
    freshness = json.loads(duckdb_build.freshness_path.read_text())["results"]
    [tracks] = [r for r in freshness if r["unique_id"] == "source.tessera.segment.tracks"]
    assert tracks["max_loaded_at"].startswith("2025-03-20T10:00:00")
    build_file = duckdb.connect(str(duckdb_build.build_db), read_only=True)
    try:
        assert build_file.execute(
            "select event_name from stg_events__tracks where message_id = 'm-late'"
        ).fetchall() == [("order_completed",)]
    finally:
        build_file.close()


def test_an_erase_reaches_the_loaders_own_file(duckdb_build: Settings) -> None:
    """The last test of the module (it changes the world): Ann's rows leave the loader's file, whose bytes
    are rewritten, and the proof scans the file beside the warehouse."""
    from orchestration.privacy.erase import erase

    root = duckdb_build.published_db.parent.parent
    loader = root / LOADER_FILE
    assert b"a-ann-phone" in loader.read_bytes()
    bob = _query(duckdb_build, "select count(*) from events where event_id = 'm-purchase'")
    with pytest.MonkeyPatch.context() as monkeypatch:
        _presets(root, monkeypatch, database_file=LOADER_FILE)
        # The access export reads the file too, before the erase.
        access = collect(duckdb_build, "email", "ann.lee@fastmail.com")
        assert {"segment:segment_prod.identifies", "segment:segment_prod.tracks"} <= set(
            access["loader_records"]
        )
        assert access["loader_sources_not_searched"] == {}
        # Another process writing the file (a loader's sync): the erase stops with that reason, publishes nothing.
        writer = subprocess.Popen(
            [sys.executable, "-c", f"import duckdb, sys; c = duckdb.connect({str(loader)!r}); print('open', "
             "flush=True); sys.stdin.read()"],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
        )  # fmt: skip
        try:
            assert writer.stdout is not None and writer.stdout.readline().strip() == "open"
            with pytest.raises(SourceBusy, match="held by another process"):
                erase(duckdb_build, "email:ann.lee@fastmail.com", syncs=[])
        finally:
            writer.communicate("")
        # The rebuild fails after the loader's file was edited in place: those rows stay deleted, and the
        # ledger counts them, here and in the run that finishes the request.
        with pytest.MonkeyPatch.context() as failing:
            import orchestration.privacy.backend_duckdb as backend_duckdb

            def rebuild_fails(settings: Settings, note: str) -> None:
                raise PublishBlocked("the rebuild failed its audit (planted by the test)")

            failing.setattr(backend_duckdb, "rebuild", rebuild_fails)
            with pytest.raises(EraseIncomplete, match="stay deleted") as incomplete:
                erase(duckdb_build, "email:ann.lee@fastmail.com", syncs=[])
        in_file = incomplete.value.deleted_rows
        assert in_file and all(place.startswith("segment:segment_prod.") for place in in_file), in_file
        with Ledger(ledger_path(duckdb_build)) as ledger:
            (failed_id,) = [r["request_id"] for r in ledger.requests() if r["status"] == "failed"]
            failed = ledger.request(failed_id) or {}
            assert failed["result"]["deleted_rows"] == in_file
            assert failed["result"]["deleted_in_place"] == in_file  # what the next run carries
            assert "deleted_in_place" in {step["step"] for step in ledger.steps(failed["request_id"])}
        result = erase(duckdb_build, "email:ann.lee@fastmail.com", syncs=[])
    assert result.request_id == failed["request_id"]  # the failed request, finished
    with Ledger(ledger_path(duckdb_build)) as ledger:
        finished = (ledger.request(result.request_id) or {})["result"]["deleted_rows"]
    assert {place: finished.get(place) for place in in_file} == in_file, finished
    steps = {step["step"]: step for step in result.steps}
    assert "loader_table" not in steps  # nothing out of reach
    assert result.proof is not None and result.proof["total_hits"] == 0, result.proof
    assert result.proof["hits_per_table"]["segment:segment_prod.tracks"] == 0
    assert result.proof["hits_per_file"][str(loader)] == 0
    con = duckdb.connect(str(loader), read_only=True)
    try:
        ann_calls = con.execute(
            f"select count(*) from {segment_world.SCHEMA}.tracks where user_id = '7' or anonymous_id = 'a-ann'"
        ).fetchall()
        others = con.execute(f"select count(*) from {segment_world.SCHEMA}.purchase").fetchall()
    finally:
        con.close()
    assert ann_calls == [(0,)] and others == [(1,)]  # Bob's purchase stays
    for term in (b"a-ann-phone", b"ann.lee@fastmail.com", b"Ann.Lee@Fastmail.com"):
        assert term not in loader.read_bytes()
    assert _query(duckdb_build, "select count(*) from events where event_id = 'm-purchase'") == bob
