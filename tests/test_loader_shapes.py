"""The demo world in the loaders' shapes (orchestration/generate/loader_shapes.py, written by
orchestration/warehouse/demo_loader_tables.py on DuckDB): the generator's files
rewritten as Segment's and Fivetran's connectors write them, checked against the loaders' documented
shapes (tests/segment_world.py, tests/shopify_world.py, tests/fivetran_world.py) and against the files
they came from. The whole pipeline on them runs in tests/test_tiny_worlds.py (`tessera demo`)."""

from __future__ import annotations

import datetime as dt
import os
from pathlib import Path

import duckdb
import pytest

from orchestration.build.pipeline import RESTAGE_EVENTS_ENV
from orchestration.generate import generate
from orchestration.generate.loader_shapes import LOADER_SHAPES, converted_files, declared_tables, presets_yaml
from orchestration.source_presets import PRESETS_FILE_ENV
from orchestration.source_presets.config import demo_presets_file, load_presets, presets_path
from orchestration.warehouse.demo_loader_tables import (
    drop_loader_shapes,
    restamp_loader_shapes,
    write_loader_shapes,
)


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, duckdb.DuckDBPyConnection, dict]:  # type: ignore[type-arg]
    out = tmp_path_factory.mktemp("loader-shapes")
    generate(customers=60, seed=3, out=out)
    con = duckdb.connect()
    written = write_loader_shapes(out / "raw", con)
    return out / "raw", con, written


def _columns(con: duckdb.DuckDBPyConnection, schema: str, table: str) -> list[str]:
    return [
        name
        for (name,) in con.execute(
            "select column_name from information_schema.columns where table_schema = ? and table_name = ? "
            "order by ordinal_position",
            [schema, table],
        ).fetchall()
    ]


def _one(con: duckdb.DuckDBPyConnection, sql: str) -> object:
    return con.execute(sql).fetchall()[0][0]


def test_every_system_is_written_with_every_row(world) -> None:  # type: ignore[no-untyped-def]
    raw, con, written = world
    assert set(written) == set(LOADER_SHAPES)

    def rows(path: str, where: str = "true") -> int:
        return _one(con, f"select count(*) from read_parquet('{raw / path}') where {where}")  # type: ignore[return-value]

    assert written["events"]["demo_segment.tracks"] == rows("events/tracks.parquet") > 0
    assert written["events"]["demo_segment.pages"] == rows("events/pages.parquet") > 0
    assert written["events"]["demo_segment.identifies"] == rows("events/identifies.parquet") > 0
    assert written["shop"]["demo_shopify.customer"] == rows("shop/customers.parquet") > 0
    assert written["shop"]["demo_shopify.order"] == rows("shop/orders.parquet") > 0
    assert written["shop"]["demo_shopify.order_line"] == rows("shop/order_items.parquet") > 0
    assert written["crm"]["demo_hubspot.contact"] == rows("crm/contacts.parquet") > 0
    assert written["support"]["demo_zendesk.ticket"] == rows("support/tickets.parquet") > 0
    assert written["support"]["demo_zendesk.satisfaction_rating"] == rows(
        "support/survey_responses.parquet", "survey_type = 'csat'"
    )
    assert written["esp"]["demo_klaviyo.event"] == rows("esp/email_events.parquet") > 0
    # every track call is in exactly one per-event table, but those with no event name
    per_event = sum(
        count
        for name, count in written["events"].items()
        if name.split(".")[1] not in {"tracks", "pages", "identifies", "users"}
    )
    assert per_event == rows("events/tracks.parquet", "event is not null")


def test_track_properties_live_in_the_per_event_tables(world) -> None:  # type: ignore[no-untyped-def]
    _, con, _ = world
    tracks = _columns(con, "demo_segment", "tracks")
    assert {"id", "event", "event_text", "uuid_ts", "original_timestamp", "received_at"} <= set(tracks)
    assert not {"product_id", "price", "order_id", "revenue", "_loaded_at"} & set(tracks)
    # a column only once a value arrives: the order event has the order's, the product events the product's
    assert {"order_id", "revenue"} <= set(_columns(con, "demo_segment", "order_completed"))
    assert "price" not in _columns(con, "demo_segment", "order_completed")
    assert {"product_id", "category", "price"} <= set(_columns(con, "demo_segment", "product_viewed"))
    assert "order_id" not in _columns(con, "demo_segment", "product_viewed")
    # a duplicated delivery is in both tables, as the loader writes it
    assert (
        _one(
            con,
            "select count(*) from (select id from demo_segment.tracks group by id having count(*) > 1) as repeated "
            "where id not in (select id from demo_segment.product_viewed union all select id from "
            "demo_segment.product_added union all select id from demo_segment.order_completed union all select id from "
            "demo_segment.checkout_started union all select id from demo_segment.product_list_viewed)",
        )
        == 0
    )


def test_record_ids_and_values_are_the_generators(world) -> None:  # type: ignore[no-untyped-def]
    raw, con, _ = world
    # the planted truth is keyed by these ids
    assert (
        _one(
            con,
            f"select count(*) from read_parquet('{raw / 'crm/contacts.parquet'}') as contact "
            "anti join demo_hubspot.contact on contact.contact_id = demo_hubspot.contact.id "
            "and contact.email is not distinct from demo_hubspot.contact.property_email",
        )
        == 0
    )
    assert (
        _one(
            con,
            f"select count(*) from read_parquet('{raw / 'support/tickets.parquet'}') as ticket "
            "anti join (select demo_zendesk.ticket.id, demo_zendesk.user.email from demo_zendesk.ticket "
            "left join demo_zendesk.user on demo_zendesk.ticket.requester_id = demo_zendesk.user.id) as landed "
            "on ticket.ticket_id = landed.id and ticket.requester_email is not distinct from landed.email",
        )
        == 0
    )
    assert (
        _one(
            con,
            "select count(*) from demo_shopify.order where (source_name = 'pos') <> (location_id is not null)",
        )
        == 0
    )
    # Klaviyo names each email event by its metric
    assert {name for (name,) in con.execute("select distinct metric.name from demo_klaviyo.event join "
                                              "demo_klaviyo.metric on event.metric_id = metric.id").fetchall()} <= {
        "Received Email", "Opened Email", "Clicked Email", "Bounced Email", "Unsubscribed"
    }  # fmt: skip


def test_csat_is_good_or_bad_as_zendesk_rates_it(world) -> None:  # type: ignore[no-untyped-def]
    raw, con, _ = world
    pairs = con.execute(
        f"select survey.score, rating.score from read_parquet('{raw / 'support/survey_responses.parquet'}') "
        "as survey join demo_zendesk.satisfaction_rating as rating on survey.response_id = rating.id"
    ).fetchall()
    assert pairs
    for score, rating in pairs:
        assert rating == ("good" if score >= 4 else "bad" if score <= 2 else "offered")


def test_load_times_end_when_the_tables_were_written(world) -> None:  # type: ignore[no-untyped-def]
    _, con, _ = world
    now = dt.datetime.now(dt.UTC).replace(tzinfo=None)
    for column, table in [
        ("uuid_ts", "demo_segment.tracks"),
        ("_fivetran_synced", "demo_shopify.order"),
        ("_fivetran_synced", "demo_hubspot.contact"),
        ("_fivetran_synced", "demo_klaviyo.event"),
    ]:
        latest = _one(con, f"select max({column}) from {table}")
        assert abs((latest - now).total_seconds()) < 3600 * 24, (table, latest)  # type: ignore[operator]


def test_the_presets_file_declares_what_was_written(
    world, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:  # type: ignore[no-untyped-def]
    raw, _, written = world
    path = tmp_path / "presets.yml"
    path.write_text(presets_yaml(list(written)))
    monkeypatch.setenv(PRESETS_FILE_ENV, str(path))
    presets = load_presets()
    assert {system: presets.preset(system) for system in written} == {
        system: preset for system, (preset, _) in LOADER_SHAPES.items()
    }
    assert presets.sources["events"].event_properties == {"product_category": "category"}
    assert {schema for schema, _ in declared_tables(path)} == {schema for _, schema in LOADER_SHAPES.values()}
    assert len(converted_files(raw, list(written))) == 10


def test_a_system_without_its_files_is_not_written(tmp_path: Path, world) -> None:  # type: ignore[no-untyped-def]
    raw, _, _ = world
    partial = tmp_path / "raw"
    (partial / "crm").mkdir(parents=True)
    (partial / "crm" / "contacts.parquet").write_bytes((raw / "crm" / "contacts.parquet").read_bytes())
    con = duckdb.connect()
    assert list(write_loader_shapes(partial, con)) == ["crm"]
    assert "sources: {}" in presets_yaml([])


def test_the_demos_declarations_apply_while_the_user_declares_none(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Every command reads the presets through presets_path: after `tessera demo`, an erase, a retention
    run or the summary sees the demo's loader tables, until the user declares a source of their own."""
    monkeypatch.setenv("TESSERA_TARGET", "duckdb")
    monkeypatch.setenv("TESSERA_DATA_DIR", str(tmp_path / "data"))
    user = tmp_path / "presets.yml"
    monkeypatch.setenv(PRESETS_FILE_ENV, str(user))
    assert presets_path() == user  # no demo declared
    demo = demo_presets_file(tmp_path / "data", "duckdb")
    demo.parent.mkdir()
    demo.write_text(presets_yaml(list(LOADER_SHAPES)))
    assert presets_path() == demo  # the user's file does not exist
    user.write_text("sources:\n  shop:\n    preset: demo\n")
    assert presets_path() == demo  # declares nothing of the user's own
    assert load_presets().preset("events") == "segment"
    user.write_text("sources:\n  events:\n    preset: snowplow\n    schema: atomic\n")
    assert presets_path() == user
    user.write_text("sources: [unclosed\n")
    assert presets_path() == user  # a broken file is the one to report on
    # another target's warehouse holds no demo loader tables
    user.unlink()
    monkeypatch.setenv("TESSERA_TARGET", "postgres")
    assert presets_path() == user


def test_load_times_move_to_now_and_switching_shape_leaves_no_copy(world, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    raw, _, _ = world
    con = duckdb.connect(str(tmp_path / "w.duckdb"))
    # a raw contract table from a demo in the other shape: dropped once the loader's tables hold the data
    con.execute("create schema raw_crm")
    con.execute("create table raw_crm.contacts as select 1 as contact_id")
    con.execute("create schema raw_pos")
    con.execute("create table raw_pos.transactions as select 1 as transaction_id")
    write_loader_shapes(raw, con)
    tables = {
        f"{s}.{t}"
        for s, t in con.execute("select table_schema, table_name from information_schema.tables").fetchall()
    }
    assert "raw_crm.contacts" not in tables and "raw_pos.transactions" in tables
    con.execute("update demo_hubspot.contact set _fivetran_synced = _fivetran_synced - interval 10 day")
    restamp_loader_shapes(con)
    latest, earliest = con.execute(
        "select max(_fivetran_synced), min(_fivetran_synced) from demo_hubspot.contact"
    ).fetchall()[0]
    now = dt.datetime.now(dt.UTC).replace(tzinfo=None)
    assert abs((latest - now).total_seconds()) < 3600 * 24 and latest >= earliest
    drop_loader_shapes(con)
    schemas = {s for (s,) in con.execute("select schema_name from information_schema.schemata").fetchall()}
    assert not schemas & {schema for _, schema in LOADER_SHAPES.values()}


def test_retention_says_it_cannot_reach_a_system_read_in_place(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A retention policy on events while a preset reads them in place: the loader's rows are not Tessera's
    to fold, so the run says so and logs it, instead of a silent zero on the empty stand-in table."""
    from orchestration.retention.config import Policy
    from orchestration.retention.engine import DuckDBRunner, enforce

    presets = tmp_path / "presets.yml"
    presets.write_text("sources:\n  events:\n    preset: segment\n    schema: demo_segment\n")
    monkeypatch.setenv(PRESETS_FILE_ENV, str(presets))
    con = duckdb.connect(str(tmp_path / "w.duckdb"))
    con.execute("create schema raw_events")
    con.execute(
        "create table raw_events.pages as select 'a1' as anonymous_id, timestamp '2020-01-01' as received_at"
    )
    policy = Policy.model_validate(
        {"source": "events", "table": "pages", "clock": "received_at", "keep_days": 10,
         "aggregate": {"group_by": ["anonymous_id"], "measures": {"page_views": {"kind": "count"}}}}
    )  # fmt: skip
    [result] = enforce(DuckDBRunner(con), [policy], as_of=dt.datetime(2026, 3, 1))
    assert result.rows_removed == 0 and "read in place by the segment preset" in result.note
    assert "demo_segment" in result.note
    logged = con.execute("select source_name, table_name, note from retained.retention_runs").fetchall()
    assert logged == [("events", "pages", result.note)]
    # on the demo preset the same policy folds and removes the old row
    presets.write_text("sources: {}\n")
    [result] = enforce(DuckDBRunner(con), [policy], as_of=dt.datetime(2026, 3, 1))
    assert result.rows_removed == 1


def test_a_system_read_in_place_has_no_raw_file_by_design_and_is_not_warned_about(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    from orchestration.warehouse.load import keep_earlier_load

    presets = tmp_path / "presets.yml"
    presets.write_text("sources:\n  events:\n    preset: segment\n    schema: demo_segment\n")
    monkeypatch.setenv(PRESETS_FILE_ENV, str(presets))
    with caplog.at_level("WARNING"):
        keep_earlier_load("events", "tracks", 0)
        keep_earlier_load("pos", "transactions", 12)
    assert [r.getMessage() for r in caplog.records] == [
        "no raw file for pos.transactions: the 12 rows an earlier build loaded are kept (drop "
        "raw_pos.transactions to declare the system absent)"
    ]


def test_duckdb_writes_the_demos_loader_tables_into_a_loader_file_of_their_own(
    world, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:  # type: ignore[no-untyped-def]
    """On DuckDB the demo's loader tables go into a loader database file beside the data, declared under
    `databases:`, not into the published file: no build copies them, and the published file keeps only
    what builds make of them. Rewriting it leaves no earlier demo's rows behind; dropping it removes it."""
    from orchestration.generate.loader_shapes import write_presets_file
    from orchestration.warehouse.duckdb import DuckDBWarehouse
    from tests.worlds import world_settings

    raw, _, _ = world
    settings = world_settings(tmp_path)
    warehouse = DuckDBWarehouse(settings)
    # a published file from a demo in the other shape, and from a version that wrote the loader schemas there
    settings.published_db.parent.mkdir(parents=True)
    con = duckdb.connect(str(settings.published_db))
    for sql in (
        "create schema raw_crm",
        "create table raw_crm.contacts as select 1 as contact_id",
        "create schema raw_pos",
        "create table raw_pos.transactions as select 1 as transaction_id",
        "create schema demo_hubspot",
        "create table demo_hubspot.contact as select 'ann@old.example' as property_email",
    ):
        con.execute(sql)
    con.close()

    name, path = warehouse.demo_loader_database()
    path.parent.mkdir(parents=True)
    path.with_name(f"{path.name}.wal").write_bytes(b"a log a killed restamp left beside an older file")
    written = warehouse.write_demo_loader_tables(raw)
    assert set(written) == set(LOADER_SHAPES) and path.exists()
    assert path.parent == settings.data_dir / "loaders"
    with duckdb.connect(str(settings.published_db), read_only=True) as published:
        tables = {f"{s}.{t}" for s, t in published.execute("select table_schema, table_name from information_schema.tables").fetchall()}  # fmt: skip
    assert tables == {"raw_pos.transactions"}  # the CRM's copy and the old loader schema are gone
    assert b"ann@old.example" not in settings.published_db.read_bytes(), "compacted: no row in free blocks"
    # nothing left to remove: an analyst's read-only connection to the published file does not stop it
    with duckdb.connect(str(settings.published_db), read_only=True):
        warehouse.write_demo_loader_tables(raw)
    assert warehouse.demo_loader_tables_present(declared_tables_of(written))
    assert not warehouse.demo_loader_tables_present([("demo_segment", "no_such_table")])

    presets_file = settings.data_dir / "presets.duckdb.yml"
    write_presets_file(presets_file, list(written), (name, path))
    monkeypatch.setenv(PRESETS_FILE_ENV, str(presets_file))
    presets = load_presets()
    assert presets.database_file(name) == path
    assert {presets.sources[system].database for system in written} == {name}

    # restamped in its file; rewritten whole (the old file's rows are not in the new one's bytes)
    with duckdb.connect(str(path)) as loader:
        loader.execute(
            "update demo_hubspot.contact set _fivetran_synced = _fivetran_synced - interval 10 day"
        )
    warehouse.restamp_demo_loader_tables()
    with duckdb.connect(str(path), read_only=True) as loader:
        latest = _one(loader, "select max(_fivetran_synced) from demo_hubspot.contact")
    now = dt.datetime.now(dt.UTC).replace(tzinfo=None)
    assert abs((latest - now).total_seconds()) < 3600 * 24  # type: ignore[operator]
    with duckdb.connect(str(path)) as loader:
        loader.execute(
            "insert into demo_hubspot.contact (id, property_email) values (-1, 'gone@old.example')"
        )
    warehouse.write_demo_loader_tables(raw)
    assert b"gone@old.example" not in path.read_bytes()
    assert sorted(p.name for p in path.parent.iterdir()) == [path.name]

    warehouse.drop_demo_loader_tables()
    assert not path.exists() and not warehouse.demo_loader_tables_present(declared_tables_of(written))
    warehouse.restamp_demo_loader_tables()  # nothing to restamp, and no empty file made
    assert not path.exists()


def declared_tables_of(written: dict[str, dict[str, int]]) -> list[tuple[str, str]]:
    return [tuple(name.split(".", 1)) for tables in written.values() for name in tables]  # type: ignore[misc]


def test_tessera_demo_writes_a_removed_loader_file_again(
    world, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:  # type: ignore[no-untyped-def]
    """The demo's presets name a loader file that is gone: `tessera demo` does not stop at the configuration
    check (which would find the declared file missing) but generates the world and writes the file again.
    The Dagster run that follows is tests/test_tiny_worlds.py's; here it is left out."""
    from click.testing import CliRunner

    from orchestration import cli

    for variable, value in {
        "TESSERA_TARGET": "duckdb",
        "TESSERA_DATA_DIR": str(tmp_path / "data"),
        "TESSERA_WAREHOUSE": str(tmp_path / "warehouse" / "tessera.duckdb"),
        "TESSERA_BUILD_DB": str(tmp_path / "warehouse" / "build" / "tessera.duckdb"),
        "TESSERA_PERSON_SOURCES": str(tmp_path / "person_sources.yml"),
        PRESETS_FILE_ENV: str(tmp_path / "presets.yml"),
    }.items():
        monkeypatch.setenv(variable, value)
    monkeypatch.delenv(RESTAGE_EVENTS_ENV, raising=False)
    # What each build the demo starts is asked (every loader row is new: restage them all).
    runs: list[str | None] = []
    monkeypatch.setattr(
        cli, "_run_pipeline", lambda _settings: runs.append(os.environ.get(RESTAGE_EVENTS_ENV))
    )
    loader = tmp_path / "data" / "loaders" / "demo_loaders.duckdb"
    first = CliRunner().invoke(cli.main, ["demo", "--customers", "30", "--seed", "3"])
    assert first.exit_code == 0, (first.output, first.exception)
    assert loader.exists() and "databases:" in (tmp_path / "data" / "presets.duckdb.yml").read_text()
    loader.unlink()
    again = CliRunner().invoke(cli.main, ["demo", "--customers", "30", "--seed", "3"])
    assert again.exit_code == 0, (again.output, again.exception)
    assert "configuration problem" not in again.output and loader.exists() and runs == ["true", "true"]
    # The ask ends with the command: a later build in the same process stages incrementally.
    assert RESTAGE_EVENTS_ENV not in os.environ
