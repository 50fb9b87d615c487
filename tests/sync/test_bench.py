"""The benchmark runs end to end at a small scale and reports every figure (correctness only; the
benchmark itself reports the timings)."""

from __future__ import annotations

from pathlib import Path

import pytest

from orchestration.sync.bench import run_benchmark


def test_the_benchmark_reports_every_figure(tmp_path: Path) -> None:
    figures = run_benchmark(
        rows=5_000,
        window_seconds=1.0,
        unchanged_rows=300,
        fault_rows=1_500,
        throughput_limit=(20, 1.0),
        records_per_request=10,
        workdir=tmp_path,
    )
    assert figures["diff_initial_adds"] == 4_500  # a tenth without consent
    assert figures["diff_changes"] > 0 and figures["diff_removes"] > 0 and figures["diff_adds"] > 0
    assert figures["unchanged_first_run_requests"] > 0
    assert figures["unchanged_rerun_requests"] == 0
    assert figures["throughput_requests_in_window"] > 0
    assert figures["faults_injected"] > 0
    assert figures["faults_lost_records"] == 0
    assert figures["faults_duplicated_records"] == 0
    assert figures["faults_unexpected_records"] == 0
    assert set(figures["goals_met"]) == set(figures["goals"])


@pytest.mark.postgres
def test_the_diff_benchmark_compares_duckdb_and_postgres(tmp_path: Path) -> None:
    from orchestration.sync.bench import bench_diff_warehouses
    from tests.conftest import TEST_PG_DATABASE, require_postgres

    require_postgres()
    connect = {"host": "127.0.0.1", "port": 5432, "user": "postgres", "dbname": TEST_PG_DATABASE}
    figures = bench_diff_warehouses(2_000, connect, workdir=tmp_path)
    duck, pg = figures["duckdb"], figures["postgres"]
    assert duck["diff_initial_adds"] == pg["diff_initial_adds"] == 1_800  # a tenth without consent
    counts = ("diff_adds", "diff_changes", "diff_removes")
    assert [duck[name] for name in counts] == [pg[name] for name in counts]
    assert all(duck[name] > 0 for name in counts)
    assert "load average" in figures["load_before"] and "load average" in figures["load_after"]
