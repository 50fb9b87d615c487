"""The demo world in the loaders' shapes (orchestration/generate/loader_shapes.py): the generator's files
rewritten as Segment's and Fivetran's connectors write them, checked against the loaders' documented
shapes (tests/segment_world.py, tests/shopify_world.py, tests/fivetran_world.py) and against the files
they came from. The whole pipeline on them runs in tests/test_tiny_worlds.py (`tessera demo`)."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import duckdb
import pytest

from orchestration.generate import generate
from orchestration.generate.loader_shapes import (
    LOADER_SHAPES,
    converted_files,
    declared_tables,
    presets_yaml,
    write_loader_shapes,
)
from orchestration.source_presets import PRESETS_FILE_ENV
from orchestration.source_presets.config import load_presets


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

    assert written["events"]["segment.tracks"] == rows("events/tracks.parquet") > 0
    assert written["events"]["segment.pages"] == rows("events/pages.parquet") > 0
    assert written["events"]["segment.identifies"] == rows("events/identifies.parquet") > 0
    assert written["shop"]["shopify.customer"] == rows("shop/customers.parquet") > 0
    assert written["shop"]["shopify.order"] == rows("shop/orders.parquet") > 0
    assert written["shop"]["shopify.order_line"] == rows("shop/order_items.parquet") > 0
    assert written["crm"]["hubspot.contact"] == rows("crm/contacts.parquet") > 0
    assert written["support"]["zendesk.ticket"] == rows("support/tickets.parquet") > 0
    assert written["support"]["zendesk.satisfaction_rating"] == rows(
        "support/survey_responses.parquet", "survey_type = 'csat'"
    )
    assert written["esp"]["klaviyo.event"] == rows("esp/email_events.parquet") > 0
    # every track call is in exactly one per-event table, but those with no event name
    per_event = sum(
        count
        for name, count in written["events"].items()
        if name.split(".")[1] not in {"tracks", "pages", "identifies", "users"}
    )
    assert per_event == rows("events/tracks.parquet", "event is not null")


def test_track_properties_live_in_the_per_event_tables(world) -> None:  # type: ignore[no-untyped-def]
    _, con, _ = world
    tracks = _columns(con, "segment", "tracks")
    assert {"id", "event", "event_text", "uuid_ts", "original_timestamp", "received_at"} <= set(tracks)
    assert not {"product_id", "price", "order_id", "revenue", "_loaded_at"} & set(tracks)
    # a column only once a value arrives: the order event has the order's, the product events the product's
    assert {"order_id", "revenue"} <= set(_columns(con, "segment", "order_completed"))
    assert "price" not in _columns(con, "segment", "order_completed")
    assert {"product_id", "category", "price"} <= set(_columns(con, "segment", "product_viewed"))
    assert "order_id" not in _columns(con, "segment", "product_viewed")
    # a duplicated delivery is in both tables, as the loader writes it
    assert (
        _one(
            con,
            "select count(*) from (select id from segment.tracks group by id having count(*) > 1) as repeated "
            "where id not in (select id from segment.product_viewed union all select id from "
            "segment.product_added union all select id from segment.order_completed union all select id from "
            "segment.checkout_started union all select id from segment.product_list_viewed)",
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
            "anti join hubspot.contact on contact.contact_id = hubspot.contact.id "
            "and contact.email is not distinct from hubspot.contact.property_email",
        )
        == 0
    )
    assert (
        _one(
            con,
            f"select count(*) from read_parquet('{raw / 'support/tickets.parquet'}') as ticket "
            "anti join (select zendesk.ticket.id, zendesk.user.email from zendesk.ticket "
            "left join zendesk.user on zendesk.ticket.requester_id = zendesk.user.id) as landed "
            "on ticket.ticket_id = landed.id and ticket.requester_email is not distinct from landed.email",
        )
        == 0
    )
    assert (
        _one(
            con,
            "select count(*) from shopify.order where (source_name = 'pos') <> (location_id is not null)",
        )
        == 0
    )
    # Klaviyo names each email event by its metric
    assert {name for (name,) in con.execute("select distinct metric.name from klaviyo.event join "
                                              "klaviyo.metric on event.metric_id = metric.id").fetchall()} <= {
        "Received Email", "Opened Email", "Clicked Email", "Bounced Email", "Unsubscribed"
    }  # fmt: skip


def test_csat_is_good_or_bad_as_zendesk_rates_it(world) -> None:  # type: ignore[no-untyped-def]
    raw, con, _ = world
    pairs = con.execute(
        f"select survey.score, rating.score from read_parquet('{raw / 'support/survey_responses.parquet'}') "
        "as survey join zendesk.satisfaction_rating as rating on survey.response_id = rating.id"
    ).fetchall()
    assert pairs
    for score, rating in pairs:
        assert rating == ("good" if score >= 4 else "bad" if score <= 2 else "offered")


def test_load_times_end_when_the_tables_were_written(world) -> None:  # type: ignore[no-untyped-def]
    _, con, _ = world
    now = dt.datetime.now(dt.UTC).replace(tzinfo=None)
    for column, table in [
        ("uuid_ts", "segment.tracks"),
        ("_fivetran_synced", "shopify.order"),
        ("_fivetran_synced", "hubspot.contact"),
        ("_fivetran_synced", "klaviyo.event"),
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
