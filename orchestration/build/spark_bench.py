"""`tessera bench spark`: one generated world built through the pipeline (`build()`: prepare, load, the
phased dbt build with its Python steps, audit, publish) on DuckDB and on Spark, alternating in one run, so
that both figures share the machine's load (issue #17's "the demo world's full build on Spark against
DuckDB, in the same run").

Spark runs on a local standalone cluster: one the benchmark starts for itself (`cluster="own"`: a master,
two workers and a Thrift server from tools/spark_cluster.py, on ports and in a state folder of its own,
stopped at the end), or one already running (`cluster="running"`: `make spark-up`, or whatever the
TESSERA_SPARK_* settings name). Each target's first build starts from nothing; the next ones rebuild from
the state it published, as `tessera run` does.

Per build: its wall time; per phase (the dbt invocations between the Python steps: one on DuckDB, three on
Spark), the span from the first node's start to the last node's end in dbt's own timings, the project's
hooks apart (the time between phases is dbt's start and parse, the load and the Python steps); the peak resident memory of this process
and every process it started (the driver side: dbt subprocesses, the Python steps, DuckDB in-process) and,
on Spark, of the cluster's JVMs (master, workers and their executors, the Thrift server) read from /proc;
and the load average before and after.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import logging
import os
import statistics
import subprocess
import sys
import time
from collections import Counter, defaultdict
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

from orchestration.build.bench import PeriodicSampler, _processes
from orchestration.settings import PROJECT_DIR, Settings

log = logging.getLogger(__name__)

TARGETS = ("duckdb", "spark")
SAMPLE_SECONDS = 0.5
MB = 1024 * 1024
# The ports of the benchmark's own cluster: apart from `make spark-up`'s defaults and the cluster test's.
OWN_PORTS = {
    "TESSERA_SPARK_MASTER_PORT": "17377",
    "TESSERA_SPARK_MASTER_UI_PORT": "18380",
    "TESSERA_SPARK_WORKER_UI_PORT": "18381",
    "TESSERA_SPARK_THRIFT_PORT": "10310",
    "TESSERA_SPARK_THRIFT_UI_PORT": "14340",
}
CLUSTER_SCRIPT = PROJECT_DIR / "tools" / "spark_cluster.py"


def world_settings(target: str, data_dir: Path, folder: Path) -> Settings:
    """One target's settings over the shared generated world: its own warehouse and build folder."""
    return Settings.from_env(
        {
            **os.environ,
            "TESSERA_TARGET": target,
            "TESSERA_DATA_DIR": str(data_dir),
            "TESSERA_WAREHOUSE": str(folder / "tessera.duckdb"),
            "TESSERA_BUILD_DB": str(folder / "build" / "tessera.duckdb"),
        }
    )


def trees_rss_bytes(roots: dict[str, Sequence[int]]) -> dict[str, int]:
    """Resident memory of each named group of processes with all their descendants, from one look at /proc."""
    processes = _processes()
    children: dict[int, list[int]] = defaultdict(list)
    for pid, (parent, _) in processes.items():
        children[parent].append(pid)
    page = os.sysconf("SC_PAGE_SIZE")
    totals: dict[str, int] = {}
    for name, pids in roots.items():
        seen: set[int] = set()
        todo = list(pids)
        while todo:
            pid = todo.pop()
            if pid in seen:
                continue
            seen.add(pid)
            todo.extend(children.get(pid, ()))
        totals[name] = sum(processes[pid][1] for pid in seen if pid in processes) * page
    return totals


@dataclasses.dataclass
class PeakSampler(PeriodicSampler):
    """The peak of trees_rss_bytes(roots) per group, sampled while open."""

    roots: dict[str, Sequence[int]]
    peaks: dict[str, int] = dataclasses.field(default_factory=dict)

    def sample(self) -> None:
        for name, value in trees_rss_bytes(self.roots).items():
            self.peaks[name] = max(self.peaks.get(name, 0), value)


def cluster_pids(spark_home: Path) -> list[int]:
    """The cluster's daemons (master, workers, Thrift server) by the pid files spark-daemon.sh wrote in
    `<TESSERA_SPARK_HOME>/pids`; their executors are the workers' children."""
    pids = []
    for path in sorted((spark_home / "pids").glob("*.pid")):
        with contextlib.suppress(OSError, ValueError):
            pids.append(int(path.read_text().strip()))
    return pids


def phase_seconds(
    results: list[dict[str, Any]], phases: list[set[str]], names: dict[str, str]
) -> list[float]:
    """Per phase (the node names each dbt invocation ran, outside_dbt.phase_members), the span from its
    first node's start to its last node's end in dbt's timings; 0.0 for a phase that ran no node. `names`
    maps a result's unique id to its node's name (a data test's id ends in a hash, not its name). The
    project's hooks (`operation.` results) run in every invocation and belong to none: they are counted
    apart (hook_seconds)."""
    from orchestration.build.bench import node_window

    spans = []
    for members in phases:
        windows = [
            node_window(r)
            for r in results
            if not r["unique_id"].startswith("operation.") and names.get(r["unique_id"]) in members
        ]
        starts = [start for start, _ in windows if start is not None]
        ends = [end for _, end in windows if end is not None]
        spans.append(round((max(ends) - min(starts)).total_seconds(), 2) if starts and ends else 0.0)
    return spans


def hook_seconds(results: list[dict[str, Any]]) -> float:
    """dbt's execution time of the project's hooks (on-run-start, on-run-end: the masked views), summed over
    every invocation."""
    return round(
        sum(
            float(r.get("execution_time") or 0.0) for r in results if r["unique_id"].startswith("operation.")
        ),
        2,
    )


def phase_names(step_names: Sequence[str]) -> list[str]:
    """A name per phase: the first runs before the first Python step, each next one after a step."""
    return ["dbt before " + step_names[0] if step_names else "dbt", *(f"dbt after {s}" for s in step_names)]


def summarise(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """Per target, the medians of its runs (wall time, each phase), its first build and the median of its
    rebuilds, peak memory over all its runs; and Spark's median over DuckDB's."""
    summary: dict[str, Any] = {}
    for target in TARGETS:
        mine = [run for run in runs if run["target"] == target]
        if not mine:
            continue
        phases = {
            name: round(statistics.median(run["phases"].get(name, 0.0) for run in mine), 2)
            for name in mine[0]["phases"]
        }
        rebuilds = [run["seconds"] for run in mine[1:]]
        summary[target] = {
            "builds": len(mine),
            "median_seconds": round(statistics.median(run["seconds"] for run in mine), 1),
            "first_build_seconds": mine[0]["seconds"],
            "median_rebuild_seconds": round(statistics.median(rebuilds), 1) if rebuilds else None,
            "median_phase_seconds": phases,
            "peak_driver_mb": max(run["peak_driver_mb"] for run in mine),
            "peak_cluster_mb": max((run.get("peak_cluster_mb") or 0) for run in mine) or None,
        }
    if "duckdb" in summary and "spark" in summary:
        summary["spark_over_duckdb"] = round(
            summary["spark"]["median_seconds"] / summary["duckdb"]["median_seconds"], 2
        )
    return summary


def timed_build(settings: Settings, run: int, spark_home: Path | None) -> dict[str, Any]:
    """One build() of `settings`' world, published, with its figures; PublishBlocked if its audit failed."""
    from orchestration.build.outside_dbt import outside_steps, phase_members
    from orchestration.build.pipeline import build

    roots: dict[str, Sequence[int]] = {"driver": [os.getpid()]}
    if spark_home is not None:
        roots["cluster"] = cluster_pids(spark_home)
    before = [round(x, 2) for x in os.getloadavg()]
    with PeakSampler(roots, interval=SAMPLE_SECONDS) as sampler:
        result = build(settings, reason="bench spark")
    manifest_path = settings.build_db.parent / f"dbt-target-{settings.target}" / "manifest.json"
    manifest = json.loads(manifest_path.read_text())
    node_names = {
        unique_id: node["name"]
        for unique_id, node in {**manifest["nodes"], **manifest.get("unit_tests", {})}.items()
    }
    spans = phase_seconds(result.results, phase_members(settings, manifest), node_names)
    names = phase_names([step.name for step in outside_steps(settings)])
    return {
        "target": settings.target,
        "run": run,
        "seconds": round(result.seconds, 1),
        "phases": dict(zip(names, spans, strict=True)),
        "hook_seconds": hook_seconds(result.results),
        "nodes": dict(Counter(str(r.get("status")) for r in result.results)),
        "tests_passed": result.audit.tests_passed,
        "published": result.published,
        "peak_driver_mb": round(sampler.peaks["driver"] / MB),
        "peak_cluster_mb": round(sampler.peaks["cluster"] / MB) if "cluster" in sampler.peaks else None,
        "load_average_before": before,
        "load_average_after": [round(x, 2) for x in os.getloadavg()],
    }


@contextlib.contextmanager
def spark_cluster(cluster: str, workdir: Path) -> Iterator[dict[str, str]]:
    """The TESSERA_SPARK_* settings of the cluster to build on: one started here (stopped after, whatever
    happens), or the running one the environment names."""
    if cluster == "running":
        yield {k: v for k, v in os.environ.items() if k.startswith("TESSERA_SPARK_")}
        return
    env = {
        "TESSERA_SPARK_HOME": str(workdir / "spark-cluster"),
        "TESSERA_SPARK_BUILD_SCHEMA": "tessera_bench_build",
        **OWN_PORTS,
    }
    started = time.monotonic()
    try:
        subprocess.run([sys.executable, str(CLUSTER_SCRIPT), "up"], env={**os.environ, **env}, check=True)
        log.info("spark cluster up in %.0f s", time.monotonic() - started)
        yield env
    finally:
        subprocess.run([sys.executable, str(CLUSTER_SCRIPT), "down"], env={**os.environ, **env}, check=False)


def run_spark_benchmark(
    customers: int, seed: int, workdir: Path, repeat: int = 2, cluster: str = "own"
) -> dict[str, Any]:
    """Generate one world, then `repeat` times: build it through the pipeline on DuckDB, then on Spark
    (the first build of each from nothing, the next ones from what it published); every run's figures,
    the medians per target and Spark's over DuckDB's."""
    from orchestration.build.pipeline import environment
    from orchestration.generate import generate
    from orchestration.warehouse.spark import SparkSettings

    if repeat < 1:
        raise ValueError("repeat must be at least 1")
    if cluster not in ("own", "running"):
        raise ValueError(f"cluster must be 'own' or 'running', not {cluster!r}")
    data_dir = workdir / "data"
    began = time.perf_counter()
    generate(customers=customers, seed=seed, out=data_dir)
    generate_seconds = round(time.perf_counter() - began, 1)
    worlds = {target: world_settings(target, data_dir, workdir / target) for target in TARGETS}
    runs: list[dict[str, Any]] = []
    with spark_cluster(cluster, workdir) as spark_env, environment(spark_env):
        spark_home = SparkSettings.from_env().landing_dir.parent
        for run in range(1, repeat + 1):
            for target in TARGETS:
                runs.append(timed_build(worlds[target], run, spark_home if target == "spark" else None))
                log.info("bench spark: %s", json.dumps(runs[-1]))
    return {
        "benchmark": "spark",
        "customers": customers,
        "seed": seed,
        "repeat": repeat,
        "cluster": cluster,
        "cores": os.cpu_count(),
        "generate_seconds": generate_seconds,
        "runs": runs,
        **summarise(runs),
        "load_average": [round(x, 2) for x in os.getloadavg()],
    }
