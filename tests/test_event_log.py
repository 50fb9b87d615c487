"""Dagster's event log with kept connections (orchestration/build/event_log.py): what Dagster and its web UI
rely on still holds, with far fewer connections. No world is built: events are stored directly."""

from __future__ import annotations

import shutil
import sqlite3
import time
from pathlib import Path

import pytest
from dagster import AssetKey, AssetMaterialization, DagsterEvent, DagsterEventType, DagsterInstance
from dagster._core.events import StepMaterializationData
from dagster._core.events.log import EventLogEntry
from dagster._core.storage.event_log import SqliteEventLogStorage
from sqlalchemy import event
from sqlalchemy.pool import Pool

from orchestration.build import event_log
from orchestration.build.event_log import KeptConnectionEventLogStorage

PROJECT_DIR = Path(__file__).resolve().parents[1]
RUN_ID = "6f1e3a52-0d4b-4c55-9d6b-2a9a0f8f3c11"


def _entry(run_id: str, dagster_event: DagsterEvent) -> EventLogEntry:
    return EventLogEntry(
        error_info=None,
        level="debug",
        user_message="",
        run_id=run_id,
        timestamp=time.time(),
        step_key=dagster_event.step_key,
        job_name="build_everything",
        dagster_event=dagster_event,
    )


def _materialization(run_id: str, number: int) -> EventLogEntry:
    materialization = AssetMaterialization(AssetKey(["model_" + str(number % 7)]))
    return _entry(
        run_id,
        DagsterEvent(
            DagsterEventType.ASSET_MATERIALIZATION.value,
            "build_everything",
            step_key="dbt_models",
            event_specific_data=StepMaterializationData(materialization),
        ),
    )


def _run_success(run_id: str) -> EventLogEntry:
    return _entry(run_id, DagsterEvent(DagsterEventType.RUN_SUCCESS.value, "build_everything"))


def _events_in_file_alone(path: Path) -> int:
    """The events the run's .db file itself holds, not counting its write-ahead log: what the web UI's
    file watcher (SqliteEventLogStorageWatchdog) is woken by."""
    con = sqlite3.connect(f"file:{path}?immutable=1", uri=True)
    try:
        return con.execute("select count(*) from event_logs").fetchone()[0]
    finally:
        con.close()


@pytest.fixture
def connections() -> list[object]:
    """Every new DBAPI connection SQLAlchemy opens while the test runs."""
    opened: list[object] = []

    def count(dbapi_connection: object, _record: object) -> None:
        opened.append(dbapi_connection)

    event.listen(Pool, "connect", count)
    yield opened
    event.remove(Pool, "connect", count)


def test_events_are_stored_through_kept_connections(tmp_path: Path, connections: list[object]) -> None:
    storage = KeptConnectionEventLogStorage(str(tmp_path))
    try:
        before = len(connections)
        for number in range(200):
            storage.store_event(_materialization(RUN_ID, number))
        # Dagster's own storage opens one for every event's run file and one for its index copy (400 here);
        # kept, each file gets one, plus the short-lived ones of its first schema check.
        assert len(connections) - before <= 10

        # Another process (the web UI, `dagster dev`) reads them all meanwhile, with Dagster's own storage.
        reader = SqliteEventLogStorage(str(tmp_path))
        try:
            records = reader.get_records_for_run(RUN_ID, limit=1000).records
            assert len(records) == 200
            materialized = reader.get_latest_materialization_events([AssetKey(["model_3"])])
            assert materialized[AssetKey(["model_3"])] is not None
        finally:
            reader.dispose()
    finally:
        storage.dispose()


def test_a_run_status_change_reaches_the_database_file_at_once(tmp_path: Path) -> None:
    storage = KeptConnectionEventLogStorage(str(tmp_path))
    run_file = Path(storage.path_for_shard(RUN_ID))
    try:
        # No time-based checkpoint in this test: only the status change may copy the log into the file.
        for number in range(30):
            storage._checkpointed_at[RUN_ID] = float("inf")
            storage.store_event(_materialization(RUN_ID, number))
        assert _events_in_file_alone(run_file) < 31
        storage.store_event(_run_success(RUN_ID))
        # The UI's watcher sees the run end without waiting for the process to exit.
        assert _events_in_file_alone(run_file) == 31
    finally:
        storage.dispose()


def test_a_live_run_reaches_the_database_file_within_the_checkpoint_interval(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(event_log, "CHECKPOINT_SECONDS", 0.0)
    storage = KeptConnectionEventLogStorage(str(tmp_path))
    try:
        for number in range(5):
            storage.store_event(_materialization(RUN_ID, number))
            assert _events_in_file_alone(Path(storage.path_for_shard(RUN_ID))) == number + 1
    finally:
        storage.dispose()


def test_at_most_a_few_files_are_kept_open(tmp_path: Path) -> None:
    storage = KeptConnectionEventLogStorage(str(tmp_path))
    try:
        run_ids = [f"00000000-0000-0000-0000-{number:012d}" for number in range(event_log.KEPT_SHARDS + 5)]
        for run_id in run_ids:
            storage.store_event(_materialization(run_id, 0))
        assert len(storage._engines) == event_log.KEPT_SHARDS
        # A dropped shard's file was checkpointed as its connection closed.
        assert _events_in_file_alone(Path(storage.path_for_shard(run_ids[0]))) == 1
    finally:
        storage.dispose()
    assert not storage._engines


def test_the_projects_dagster_home_uses_it(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    shutil.copy(PROJECT_DIR / ".dagster" / "dagster.yaml", tmp_path / "dagster.yaml")
    monkeypatch.setenv("DAGSTER_HOME", str(tmp_path))
    with DagsterInstance.get() as instance:
        storage = instance.event_log_storage
        assert isinstance(storage, KeptConnectionEventLogStorage)
        # Dagster's own layout, which `dagster dev` and the erasure scan of Dagster's storage read.
        assert Path(storage.path_for_shard(RUN_ID)) == tmp_path / "history" / "runs" / f"{RUN_ID}.db"
        instance.report_runless_asset_event(AssetMaterialization(asset_key=AssetKey(["customers"])))
        assert instance.get_latest_materialization_event(AssetKey(["customers"])) is not None
