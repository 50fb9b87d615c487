"""`tessera bench spark` without Spark (default CI): its arguments, the JSON it prints, its medians and phases,
and the memory it reads from /proc. The builds themselves are the cluster's (docs/spark.md, "Benchmark")."""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import os
import subprocess
import sys

import pytest
from click.testing import CliRunner

from orchestration.build import spark_bench
from orchestration.cli import main


def _run(target: str, run: int, seconds: float, phases: dict[str, float], driver: int, cluster=None) -> dict:
    return {
        "target": target,
        "run": run,
        "seconds": seconds,
        "phases": phases,
        "peak_driver_mb": driver,
        "peak_cluster_mb": cluster,
    }


RUNS = [
    _run("duckdb", 1, 30.0, {"dbt": 20.0}, 500),
    _run("spark", 1, 400.0, {"a": 100.0, "b": 50.0}, 300, 2000),
    _run("duckdb", 2, 10.0, {"dbt": 8.0}, 700),
    _run("spark", 2, 300.0, {"a": 80.0, "b": 40.0}, 350, 2500),
    _run("duckdb", 3, 12.0, {"dbt": 9.0}, 600),
    _run("spark", 3, 320.0, {"a": 90.0, "b": 60.0}, 320, 2200),
]


def test_summary_takes_medians_per_target_and_the_ratio():
    summary = spark_bench.summarise(RUNS)
    assert summary["duckdb"] == {
        "builds": 3,
        "median_seconds": 12.0,
        "first_build_seconds": 30.0,
        "median_rebuild_seconds": 11.0,
        "median_phase_seconds": {"dbt": 9.0},
        "peak_driver_mb": 700,
        "peak_cluster_mb": None,
    }
    assert summary["spark"]["median_seconds"] == 320.0
    assert summary["spark"]["median_rebuild_seconds"] == 310.0
    assert summary["spark"]["median_phase_seconds"] == {"a": 90.0, "b": 50.0}
    assert summary["spark"]["peak_cluster_mb"] == 2500
    assert summary["spark_over_duckdb"] == round(320.0 / 12.0, 2)


def test_one_build_per_target_has_no_rebuild_median_and_one_target_no_ratio():
    summary = spark_bench.summarise(RUNS[:1])
    assert summary["duckdb"]["median_rebuild_seconds"] is None
    assert "spark" not in summary and "spark_over_duckdb" not in summary


def _result(name: str, start: int, end: int) -> dict:
    day = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
    return {
        "unique_id": f"model.tessera.{name}",
        "timing": [
            {
                "started_at": (day + dt.timedelta(seconds=start)).isoformat(),
                "completed_at": (day + dt.timedelta(seconds=end)).isoformat(),
            }
        ],
    }


def test_a_phase_spans_its_first_node_start_to_its_last_node_end():
    """By node name (a data test's id ends in a hash), the hooks apart: they run in every invocation."""
    test = {**_result("x", 22, 30), "unique_id": "test.tessera.not_null_c_id.1a2b3c"}
    hook = {
        **_result("x", 40, 50),
        "unique_id": "operation.tessera.tessera-on-run-end-0",
        "execution_time": 10,
    }
    results = [_result("a", 0, 5), _result("b", 3, 9), _result("c", 20, 21), test, hook]
    results.append({"unique_id": "model.tessera.d"})
    names = {f"model.tessera.{n}": n for n in "abcd"}
    names |= {test["unique_id"]: "not_null_c_id", hook["unique_id"]: "tessera-on-run-end-0"}
    phases = [{"a", "b", "tessera-on-run-end-0"}, {"c", "d", "not_null_c_id"}, {"e"}]
    assert spark_bench.phase_seconds(results, phases, names) == [9.0, 10.0, 0.0]
    assert spark_bench.hook_seconds([*results, hook]) == 20.0
    assert spark_bench.phase_names([]) == ["dbt"]
    assert spark_bench.phase_names(["matching", "scoring"]) == [
        "dbt before matching",
        "dbt after matching",
        "dbt after scoring",
    ]


def test_memory_of_a_process_tree_counts_its_children(tmp_path):
    child = subprocess.Popen([sys.executable, "-c", "import time; b = bytearray(64 << 20); time.sleep(60)"])
    try:
        for _ in range(100):  # until the child has its 64 MB
            sizes = spark_bench.trees_rss_bytes({"me": [os.getpid()], "child": [child.pid], "none": []})
            if sizes["child"] > 64 << 20:
                break
            subprocess.run(["sleep", "0.1"], check=True)
        assert sizes["child"] > 64 << 20
        assert sizes["me"] > sizes["child"]  # the child is in my tree
        assert sizes["none"] == 0
        (tmp_path / "pids").mkdir()
        (tmp_path / "pids" / "spark-tessera-worker-1.pid").write_text(f"{child.pid}\n")
        (tmp_path / "pids" / "broken.pid").write_text("not a pid")
        assert spark_bench.cluster_pids(tmp_path) == [child.pid]
        with spark_bench.PeakSampler({"cluster": [child.pid]}, interval=0.05) as sampler:
            subprocess.run(["sleep", "0.2"], check=True)
        assert sampler.peaks["cluster"] > 64 << 20
    finally:
        child.kill()
        child.wait()


def test_the_benchmark_alternates_the_targets_and_prints_one_json(monkeypatch, tmp_path):
    """The assembly without a cluster or a build: the runs alternate DuckDB and Spark, each its own world over
    one generated data folder, and the JSON holds every run, the medians and the ratio."""
    import orchestration.generate

    built: list[tuple[str, int, bool, str]] = []
    generated: list[tuple[int, int]] = []

    def fake_build(settings, run, spark_home):
        built.append((settings.target, run, spark_home is not None, str(settings.data_dir)))
        return next(r for r in RUNS if r["target"] == settings.target and r["run"] == run)

    @contextlib.contextmanager
    def no_cluster(cluster, workdir):
        assert cluster == "own"
        yield {"TESSERA_SPARK_HOME": str(workdir / "spark")}

    monkeypatch.setattr(
        orchestration.generate, "generate", lambda customers, seed, out: generated.append((customers, seed))
    )
    monkeypatch.setattr(spark_bench, "timed_build", fake_build)
    monkeypatch.setattr(spark_bench, "spark_cluster", no_cluster)
    result = CliRunner().invoke(
        main, ["bench", "spark", "--customers", "50", "--repeat", "3", "--workdir", str(tmp_path)]
    )
    assert result.exit_code == 0, result.output
    figures = json.loads(result.output.strip().splitlines()[-1])
    assert generated == [(50, 7)]
    assert [(t, r, s) for t, r, s, _ in built] == [
        ("duckdb", 1, False),
        ("spark", 1, True),
        ("duckdb", 2, False),
        ("spark", 2, True),
        ("duckdb", 3, False),
        ("spark", 3, True),
    ]
    assert {data for *_, data in built} == {str(tmp_path / "data")}
    assert figures["benchmark"] == "spark" and figures["customers"] == 50 and figures["repeat"] == 3
    assert figures["runs"] == RUNS
    assert figures["spark_over_duckdb"] == spark_bench.summarise(RUNS)["spark_over_duckdb"]
    assert {"cores", "load_average", "generate_seconds", "duckdb", "spark", "cluster"} <= set(figures)


@pytest.mark.parametrize(
    ("args", "error"), [(["--repeat", "0"], "--repeat"), (["--cluster", "remote"], "--cluster")]
)
def test_bad_arguments_are_refused_before_anything_runs(monkeypatch, args, error):
    monkeypatch.setattr(spark_bench, "run_spark_benchmark", lambda *a: pytest.fail("ran"))
    result = CliRunner().invoke(main, ["bench", "spark", *args])
    assert result.exit_code == 2 and error in result.output


def test_the_function_refuses_what_the_command_refuses(tmp_path):
    with pytest.raises(ValueError, match="repeat"):
        spark_bench.run_spark_benchmark(10, 7, tmp_path, repeat=0)
    with pytest.raises(ValueError, match="cluster"):
        spark_bench.run_spark_benchmark(10, 7, tmp_path, cluster="remote")
    assert not (tmp_path / "data").exists()
