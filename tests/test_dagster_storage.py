"""The pooled SQLite event log (orchestration/build/dagster_storage.py): Dagster's files and schema, read and
written by either class, and a live run still followed by watchers."""

from __future__ import annotations

import sqlite3
import threading
import time
from pathlib import Path

import pytest
from dagster import DagsterInstance, EventLogEntry, asset, materialize
from dagster._core.storage.event_log.sqlite.sqlite_event_log import SqliteEventLogStorage

from orchestration.build.dagster_storage import OPEN_RUN_DATABASES, PooledSqliteEventLogStorage

PROJECT_INSTANCE = Path(__file__).resolve().parent.parent / ".dagster" / "dagster.yaml"


def _entry(run_id: str, message: str) -> EventLogEntry:
    return EventLogEntry(
        error_info=None,
        level="debug",
        user_message=message,
        run_id=run_id,
        timestamp=time.time(),
        step_key=None,
        job_name=None,
        dagster_event=None,
    )


def _wait_for(condition, seconds: float = 20.0) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.05)
    return condition()


@asset
def one() -> int:
    return 1


@asset
def two(one: int) -> int:
    return one + 1


def test_the_project_instance_uses_the_pooled_storage_and_dagster_reads_what_it_wrote(tmp_path, monkeypatch):
    # Without a base_dir, the event logs are where Dagster keeps them: $DAGSTER_HOME/history/runs.
    monkeypatch.setenv("DAGSTER_HOME", str(tmp_path))
    (tmp_path / "dagster.yaml").write_text(PROJECT_INSTANCE.read_text())
    with DagsterInstance.from_config(str(tmp_path)) as instance:
        assert type(instance.event_log_storage) is PooledSqliteEventLogStorage
        result = materialize([one, two], instance=instance)
        assert result.success
        # The run's end closed its files: an instance left open between runs holds none of the log.
        assert instance.event_log_storage._engines == {}
        run_id = result.run_id
        written = [entry.dagster_event_type for entry in instance.all_logs(run_id)]
    # Dagster's own class reads the same files: the run's events and the asset index.
    plain = SqliteEventLogStorage(str(tmp_path / "history" / "runs"))
    try:
        assert [entry.dagster_event_type for entry in plain.get_logs_for_run(run_id)] == written
        assert {key.to_user_string() for key in plain.all_asset_keys()} == {"one", "two"}
        # ...and what Dagster's class writes, the pooled storage reads.
        plain.store_event(_entry(run_id, "written by dagster's class"))
    finally:
        plain.dispose()
    with DagsterInstance.from_config(str(tmp_path)) as instance:
        messages = [entry.user_message for entry in instance.all_logs(run_id)]
        assert messages[-1] == "written by dagster's class"
        assert instance.get_latest_materialization_event(two.key) is not None


def test_connections_write_ahead_and_sync_at_checkpoints(tmp_path):
    storage = PooledSqliteEventLogStorage(str(tmp_path))
    try:
        storage.store_event(_entry("run_a", "hello"))
        with storage.run_connection("run_a") as conn:
            assert conn.exec_driver_sql("pragma journal_mode").scalar() == "wal"
            # NORMAL is 1 (FULL, SQLite's default, is 2).
            assert conn.exec_driver_sql("pragma synchronous").scalar() == 1
    finally:
        storage.dispose()


@pytest.mark.parametrize("shared", [False, True], ids=["watcher_in_another_storage", "watcher_in_the_writer"])
def test_a_watcher_sees_every_event_of_a_live_run(tmp_path, shared):
    """Dagster's UI follows a running run by watching its database file: it must see each write, both from
    another instance (the run in another process) and from the one it shares with the writer."""
    writer = PooledSqliteEventLogStorage(str(tmp_path))
    watcher = writer if shared else PooledSqliteEventLogStorage(str(tmp_path))
    seen: list[str] = []
    try:
        writer.store_event(_entry("live", "event 0"))  # the run's database exists before the UI opens it
        watcher.watch("live", None, lambda entry, _cursor: seen.append(entry.user_message))
        time.sleep(0.5)  # the observer's inotify watch is in place
        for n in range(1, 6):
            writer.store_event(_entry("live", f"event {n}"))
            assert _wait_for(lambda n=n: f"event {n}" in seen), (n, seen)
        assert seen[-5:] == [f"event {n}" for n in range(1, 6)]
    finally:
        watcher.dispose()
        if not shared:
            writer.dispose()


def test_run_databases_kept_open_are_bounded(tmp_path):
    storage = PooledSqliteEventLogStorage(str(tmp_path))
    try:
        for n in range(OPEN_RUN_DATABASES + 5):
            storage.store_event(_entry(f"run_{n}", "x"))
        storage.has_table("event_logs")
        assert len(storage._engines) == OPEN_RUN_DATABASES + 1  # and the index
        assert "index" in storage._engines
        # A closed run database opens again on demand.
        assert [entry.user_message for entry in storage.get_logs_for_run("run_0")] == ["x"]
    finally:
        storage.dispose()


def test_a_run_database_in_use_is_not_closed_to_open_others(tmp_path):
    storage = PooledSqliteEventLogStorage(str(tmp_path))
    try:
        storage.store_event(_entry("run_busy", "first"))
        with storage._connect("run_busy") as busy:
            # Within the connection (the lock is this thread's): more runs than are kept open.
            for n in range(OPEN_RUN_DATABASES + 3):
                storage.store_event(_entry(f"run_{n}", "x"))
            assert "run_busy" in storage._engines
            assert busy.exec_driver_sql("select count(*) from event_logs").scalar() == 1
        storage.store_event(_entry("run_next", "x"))
        assert "run_busy" not in storage._engines  # evicted once it was returned
        assert len([name for name in storage._engines if name != "index"]) == OPEN_RUN_DATABASES
        assert [entry.user_message for entry in storage.get_logs_for_run("run_busy")] == ["first"]
    finally:
        storage.dispose()


def test_wipe_empties_the_log_and_does_not_hang(tmp_path):
    """Dagster's wipe asks has_table while it holds the index connection: with a plain lock that waits
    for itself for ever."""
    storage = PooledSqliteEventLogStorage(str(tmp_path))
    storage.store_event(_entry("run_a", "x"))
    wiper = threading.Thread(target=storage.wipe, daemon=True)
    wiper.start()
    wiper.join(timeout=30)
    # A hung wipe holds the lock: the storage is left to the daemon thread, not disposed.
    assert not wiper.is_alive(), "wipe hung"
    try:
        assert not (tmp_path / "run_a.db").exists()
        assert storage.get_logs_for_run("run_a") == []
    finally:
        storage.dispose()


def test_a_write_to_a_run_file_deleted_meanwhile_does_not_fail(tmp_path):
    """Another process removed the run's file while this one held it open (a wipe elsewhere): the write
    goes to the open file, and touching the missing path is no error."""
    storage = PooledSqliteEventLogStorage(str(tmp_path))
    try:
        storage.store_event(_entry("run_a", "x"))
        for suffix in ("", "-wal", "-shm"):
            (tmp_path / f"run_a.db{suffix}").unlink(missing_ok=True)
        storage.store_event(_entry("run_a", "y"))
    finally:
        storage.dispose()
    with sqlite3.connect(tmp_path / "index.db") as index:
        assert index.execute("pragma journal_mode").fetchone()[0] == "wal"


def test_bench_events_runs_the_same_job_on_both_storages(tmp_path):
    from orchestration.build.events_bench import run_events_benchmark

    figures = run_events_benchmark(tmp_path, assets=3, checks=2, repeat=1)
    # The same events reach both storages: the job's steps, materializations and check results.
    assert figures["events_per_run"]["dagster"] == figures["events_per_run"]["pooled"] > 3 * (1 + 2)
    assert set(figures["median_seconds"]) == {"dagster", "pooled"}
    assert figures["dagster_over_pooled"] > 0
    assert (tmp_path / "pooled-0" / "history" / "runs" / "index.db").exists()
    assert (tmp_path / "dagster-0" / "history" / "runs" / "index.db").exists()


def test_the_privacy_scan_of_dagster_files_leaves_open_connections_working(tmp_path):
    """The erasure proof scans every file under DAGSTER_HOME. Opening and closing a database file as a plain
    file would drop this process's SQLite locks on it, so another process's clean exit would take itself for
    the last user and delete the write-ahead log under the open connections (disk I/O errors, lost events).
    The scan reads SQLite files through SQLite."""
    import subprocess
    import sys

    from orchestration.privacy.scan import scan_bytes

    storage = PooledSqliteEventLogStorage(str(tmp_path))
    try:
        storage.store_event(_entry("run_a", "alice@example.com wrote"))
        for path in sorted(tmp_path.iterdir()):
            scan_bytes(path, ["alice@example.com"])
        assert (
            scan_bytes(tmp_path / "run_a.db", ["alice@example.com"])
            + scan_bytes(tmp_path / "run_a.db-wal", ["alice@example.com"])
            >= 1
        )
        # Another process (a CLI run, the daemon) writes the same run database and exits cleanly.
        other = (
            "import sqlite3, sys; con = sqlite3.connect(sys.argv[1]); "
            "con.execute('pragma journal_mode=wal'); con.execute('select count(*) from event_logs').fetchall(); "
            "con.close()"
        )
        subprocess.run([sys.executable, "-c", other, str(tmp_path / "run_a.db")], check=True)
        storage.store_event(_entry("run_a", "after"))
        assert [e.user_message for e in storage.get_logs_for_run("run_a")][-1] == "after"
        assert (tmp_path / "run_a.db-wal").exists(), (
            "the write-ahead log was deleted under an open connection"
        )
    finally:
        storage.dispose()
    # What the open storage committed is in the file for any new reader.
    fresh = PooledSqliteEventLogStorage(str(tmp_path))
    try:
        assert [e.user_message for e in fresh.get_logs_for_run("run_a")] == [
            "alice@example.com wrote",
            "after",
        ]
    finally:
        fresh.dispose()
