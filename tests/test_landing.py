"""What has landed since the published build read its sources, and the sensor that builds when it changes
(orchestration/build/landing.py, build/schedules.py): file drops, person source files and loader tables
read in place, on a hand-made folder with a hand-made dbt manifest (no dbt, no build)."""

from __future__ import annotations

import json
from pathlib import Path

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from dagster import (
    DagsterInstance,
    DagsterRun,
    DagsterRunStatus,
    RunRequest,
    SkipReason,
    build_sensor_context,
)

from orchestration.build.landing import landed_since_publish, record_landed, what_landed
from orchestration.build.schedules import build_when_data_lands_sensor
from orchestration.settings import Settings
from orchestration.warehouse.audit import keep_audit


def _manifest(target: Path) -> None:
    """Two sources a preset reads in place (Segment's tracks and identifies, declared with their load-time
    column) and one of the raw contract, which the file drops cover."""

    def source(name: str, table: str, path: str, loaded_at: str | None) -> dict:
        return {
            "source_name": name,
            "name": table,
            "schema": name if name != "events" else "raw_events",
            "identifier": table,
            "database": "tessera",
            "relation_name": f'"tessera"."{name}"."{table}"',
            "original_file_path": path,
            "loaded_at_field": loaded_at,
            "freshness": {"warn_after": {"count": 6, "period": "hour"}},
        }

    segment = "models/staging/events/base/segment/_segment__sources.yml"
    target.mkdir(parents=True)
    (target / "manifest.json").write_text(
        json.dumps(
            {
                "nodes": {"model.tessera.events": {"resource_type": "model", "database": "tessera"}},
                "sources": {
                    "source.tessera.segment.tracks": source("segment", "tracks", segment, "uuid_ts"),
                    "source.tessera.segment.identifies": source("segment", "identifies", segment, "uuid_ts"),
                    # A list that changes with the account's set-up (freshness: null), written without
                    # a load-time column at all: not a landing, and no warning.
                    "source.tessera.segment.accounts": {
                        **source("segment", "accounts", segment, "uuid_ts"),
                        "freshness": None,
                    },
                    "source.tessera.events.tracks": source(
                        "events", "tracks", "models/staging/events/_events__sources.yml", "_loaded_at"
                    ),
                },
            }
        )
    )


@pytest.fixture
def world(tmp_path, monkeypatch) -> Settings:
    monkeypatch.setenv("DBT_TARGET_PATH", str(tmp_path / "target"))
    monkeypatch.setenv("TESSERA_TARGET", "duckdb")
    monkeypatch.setenv("TESSERA_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("TESSERA_WAREHOUSE", str(tmp_path / "warehouse" / "tessera.duckdb"))
    monkeypatch.setenv("TESSERA_BUILD_DB", str(tmp_path / "warehouse" / "build" / "tessera.duckdb"))
    monkeypatch.setenv("TESSERA_PERSON_SOURCES", str(tmp_path / "person_sources.yml"))
    _manifest(tmp_path / "target")
    settings = Settings.from_env()
    settings.published_db.parent.mkdir(parents=True)
    con = duckdb.connect(str(settings.published_db))
    # Segment's loader has written tracks; identifies does not exist yet (a loader creates a table when
    # its first call arrives).
    con.execute("create schema segment")
    con.execute("create table segment.tracks (id varchar, uuid_ts timestamp)")
    con.execute("insert into segment.tracks values ('m1', '2026-12-01 10:00:00')")
    con.execute("create table segment.accounts (id varchar)")
    con.close()
    _drop(settings, "pos", "transactions", ["t1"])
    return settings


def _drop(settings: Settings, system: str, table: str, ids: list[str]) -> None:
    path = settings.raw_dir / system / f"{table}.parquet"
    path.parent.mkdir(parents=True, exist_ok=True)
    pq.write_table(pa.table({"id": ids}), path)


def _check(settings: Settings, instance: DagsterInstance | None = None) -> RunRequest | SkipReason:
    """One evaluation of the sensor, as the daemon makes it."""
    context = build_sensor_context(instance=instance or DagsterInstance.ephemeral())
    return build_when_data_lands_sensor(settings)(context)


def _publish(settings: Settings) -> None:
    """What a build does around its load, and publishing after it (a stand-in for the audit)."""
    record_landed(settings)
    settings.audit_path.write_text("{}")
    keep_audit(settings)


def test_nothing_published_yet_everything_landed_is_new(world, caplog):
    changed, _ = landed_since_publish(world)
    assert not [r for r in caplog.records if r.levelname == "WARNING"], caplog.text
    # The absent identifies table and the raw contract's own source are not loader tables landing.
    assert changed == ["file:pos/transactions", "table:segment.tracks"]
    # the newest load time, as seconds since 1970: 2026-12-01 10:00:00 UTC
    assert what_landed(world)["table:segment.tracks"] == 1796119200.0


def test_no_published_warehouse_yet(world):
    world.published_db.unlink()
    assert landed_since_publish(world)[0] == ["file:pos/transactions"]
    assert isinstance(_check(world), RunRequest)


def test_a_published_build_has_read_what_is_there(world):
    _publish(world)
    assert landed_since_publish(world)[0] == []
    assert isinstance(_check(world), SkipReason)


def test_new_loader_rows_a_new_table_and_a_new_file_each_ask_for_one_build(world):
    _publish(world)
    con = duckdb.connect(str(world.published_db))
    con.execute("insert into segment.tracks values ('m2', '2026-12-01 10:05:00')")
    con.execute("create table segment.identifies (id varchar, uuid_ts timestamp)")
    con.execute("insert into segment.identifies values ('i1', '2026-12-01 10:06:00')")
    con.close()
    changed, fingerprint = landed_since_publish(world)
    assert changed == ["table:segment.identifies", "table:segment.tracks"]
    request = _check(world)
    assert isinstance(request, RunRequest)
    # One run per state: asked again before anything changes, the same key (Dagster runs it once).
    assert request.run_key == f"landed-{fingerprint}"
    assert _check(world).run_key == request.run_key

    _publish(world)
    # A replaced delivery: same name, new content.
    _drop(world, "pos", "transactions", ["t1", "t2"])
    changed, second = landed_since_publish(world)
    assert changed == ["file:pos/transactions"] and second != fingerprint


def test_rows_deleted_from_a_loader_table_are_no_delivery(world):
    """An erasure or retention deleting the newest rows lowers the newest load time: nothing to build."""
    con = duckdb.connect(str(world.published_db))
    con.execute("insert into segment.tracks values ('m2', '2026-12-01 10:05:00')")
    con.close()
    _publish(world)
    con = duckdb.connect(str(world.published_db))
    con.execute("delete from segment.tracks where id = 'm2'")
    con.close()
    assert landed_since_publish(world)[0] == []


def test_a_build_that_was_not_published_leaves_the_published_record(world):
    """A build records what it read and fails its audit; an erasure (or retention) then publishes from a
    new build that loaded nothing: the published record is still the earlier build's."""
    from orchestration.warehouse.registry import get_warehouse

    _publish(world)
    _drop(world, "pos", "transactions", ["t1", "t2"])
    record_landed(world)  # the failed build: nothing is published
    assert world.landed_path.exists()
    get_warehouse(world).prepare_build()  # the erasure's build, which loads no raw file
    world.audit_path.write_text("{}")
    keep_audit(world)
    assert landed_since_publish(world)[0] == ["file:pos/transactions"]


def test_no_build_is_asked_for_while_one_is_queued_or_running(world):
    """Deliveries while a build waits or runs start no second build: it reads them when it loads."""
    instance = DagsterInstance.ephemeral()
    running = instance.add_run(
        DagsterRun(job_name="build_everything", run_id="a" * 36, status=DagsterRunStatus.STARTED)
    )
    skipped = _check(world, instance)
    assert isinstance(skipped, SkipReason) and "started" in (skipped.skip_message or "")
    # it failed; another job's run is going on: the deliveries ask for a build
    instance.delete_run(running.run_id)
    instance.add_run(
        DagsterRun(job_name="build_everything", run_id="b" * 36, status=DagsterRunStatus.FAILURE)
    )
    instance.add_run(DagsterRun(job_name="run_syncs", run_id="c" * 36, status=DagsterRunStatus.STARTED))
    assert isinstance(_check(world, instance), RunRequest)


def test_a_person_source_file_counts(world):
    people = world.data_dir / "people.csv"
    people.parent.mkdir(parents=True, exist_ok=True)
    people.write_text("id,email\n1,ann@example.com\n")
    world.person_sources_path.write_text(
        "person_sources:\n"
        "  - name: fair\n"
        f"    file: {people}\n"
        "    record_id: id\n"
        "    fields:\n"
        "      email: email\n"
    )
    _publish(world)
    assert landed_since_publish(world)[0] == []
    people.write_text("id,email\n1,ann@example.com\n2,bo@example.com\n")
    assert landed_since_publish(world)[0] == ["file:person_sources/fair.people"]


def test_the_landing_benchmark_delivers_one_more_plausible_track_call(tmp_path):
    """tessera bench landing's delivery (orchestration/build/bench.py): every earlier call, and one more of
    a known user, with its own id, at a time staging accepts (not one of the planted out-of-range ones)."""
    import datetime as dt

    from orchestration.build.bench import land_track_call
    from orchestration.generate import SCHEMAS

    path = tmp_path / "raw" / "events" / "tracks.parquet"
    path.parent.mkdir(parents=True)
    rows = [
        {"id": f"m{i}", "user_id": None if i == 9 else f"u{i}", "timestamp": dt.datetime(2026, 11, 1 + i)}
        for i in range(10)
    ] + [{"id": "planted", "user_id": "u0", "timestamp": dt.datetime(2099, 1, 1)}]
    schema = SCHEMAS["events.tracks"]
    pq.write_table(
        pa.Table.from_pylist([{f.name: r.get(f.name) for f in schema} for r in rows], schema), path
    )
    land_track_call(tmp_path / "raw", "new-one")
    after = pq.read_table(path).to_pylist()
    assert [r["id"] for r in after[:-1]] == [r["id"] for r in rows]
    new = after[-1]
    assert new["id"] == "new-one" and new["user_id"] == "u8" and new["timestamp"] == dt.datetime(2026, 11, 9)
    assert new["_loaded_at"] > dt.datetime(2026, 12, 1)


def test_a_first_build_keeps_its_record(world):
    """The first build of a warehouse (nothing published) records what it read and loads into a new
    build file: the load must not take the build for unprepared and discard the record."""
    from orchestration.warehouse.registry import get_warehouse

    world.published_db.unlink()
    warehouse = get_warehouse(world)
    warehouse.prepare_build()
    record_landed(world)
    warehouse.ensure_build()  # what load_raw does first
    assert world.landed_path.exists()
