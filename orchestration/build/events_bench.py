"""`tessera bench events`: what Dagster's event log costs a job shaped like the build, with Dagster's own
SQLite storage and with the pooled one (orchestration/build/dagster_storage.py), alternating in one run.

The job has no dbt in it: `assets` assets in a chain of layers, each with `checks` asset checks, as the
dbt build's models and tests appear in Dagster. So the difference between the two is the storage alone."""

from __future__ import annotations

import os
import statistics
import time
from pathlib import Path
from typing import Any

#: Dagster's class and ours, as `.dagster/dagster.yaml` would name them.
STORAGES = {
    "dagster": ("dagster._core.storage.event_log", "SqliteEventLogStorage"),
    "pooled": ("orchestration.build.dagster_storage", "PooledSqliteEventLogStorage"),
}


def _model(n: int, checks: int) -> Any:
    """Asset `model_<n>`, after `model_<n-1>`, with `checks` passing asset checks."""
    from dagster import AssetCheckResult, AssetCheckSpec, AssetKey, MaterializeResult, asset

    specs = [AssetCheckSpec(f"test_{k}", asset=f"model_{n}") for k in range(checks)]

    @asset(name=f"model_{n}", deps=[AssetKey(f"model_{n - 1}")] if n else [], check_specs=specs)
    def model():  # noqa: ANN202 (Dagster resolves a return annotation at run time, not a string one)
        return MaterializeResult(
            metadata={"rows": 1},
            check_results=[AssetCheckResult(check_name=spec.name, passed=True) for spec in specs],
        )

    return model


def _job(assets: int, checks: int) -> Any:
    from dagster import Definitions

    return Definitions(
        assets=[_model(n, checks) for n in range(assets)]
    ).resolve_implicit_global_asset_job_def()


def _instance_yaml(storage: str, home: Path) -> str:
    """Dagster's class must be told its folder; the pooled one defaults to the same, under DAGSTER_HOME."""
    module, name = STORAGES[storage]
    config = f"  config:\n    base_dir: {home / 'history' / 'runs'}\n" if storage == "dagster" else ""
    return f"event_log_storage:\n  module: {module}\n  class: {name}\n{config}telemetry:\n  enabled: false\n"


def run_events_benchmark(
    workdir: Path, assets: int = 100, checks: int = 3, repeat: int = 3
) -> dict[str, Any]:
    """Wall seconds of the job on each storage, `repeat` times each in turn in fresh instance folders;
    medians, the ratio of the medians, and the events stored per run."""
    from dagster import DagsterInstance

    from orchestration.build.pipeline import environment

    job = _job(assets, checks)
    quiet = {"loggers": {"console": {"config": {"log_level": "CRITICAL"}}}}
    seconds: dict[str, list[float]] = {name: [] for name in STORAGES}
    # Dagster's first run in a process pays for imports and caches: a warm-up, not measured.
    job.execute_in_process(instance=DagsterInstance.ephemeral(), run_config=quiet)
    events: dict[str, int] = {}
    for attempt in range(repeat):
        for name in STORAGES:
            home = workdir / f"{name}-{attempt}"
            home.mkdir(parents=True)
            (home / "dagster.yaml").write_text(_instance_yaml(name, home))
            # The pooled storage keeps its files under DAGSTER_HOME.
            with environment({"DAGSTER_HOME": str(home)}), DagsterInstance.from_config(str(home)) as instance:
                started = time.monotonic()
                result = job.execute_in_process(instance=instance, run_config=quiet)
                seconds[name].append(time.monotonic() - started)
                events[name] = len(instance.all_logs(result.run_id))
            if not result.success:
                raise RuntimeError(f"the benchmark job failed on the {name} storage")
    medians = {name: round(statistics.median(values), 3) for name, values in seconds.items()}
    return {
        "assets": assets,
        "checks_per_asset": checks,
        "events_per_run": events,
        "repeat": repeat,
        "seconds": {name: [round(v, 3) for v in values] for name, values in seconds.items()},
        "median_seconds": medians,
        "median_ms_per_event": {
            name: round(1000 * m / max(events[name], 1), 2) for name, m in medians.items()
        },
        "dagster_over_pooled": round(medians["dagster"] / medians["pooled"], 2),
        "load_average": [round(x, 2) for x in os.getloadavg()],
        "cores": os.cpu_count(),
    }
