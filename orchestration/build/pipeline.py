"""The pipeline without Dagster: prepare → load → dbt build → audit → publish, for benchmarks and tests.

Dagster's job does the same steps as assets (orchestration/assets/); this path runs dbt in-process
as a plain dbt subprocess, so a benchmark can read each model's timing and a test can build small worlds fast.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from orchestration.audiences.rules import load_project
from orchestration.build.outside_dbt import dbt_build_phases, drop_written_tables, outside_steps
from orchestration.settings import PROJECT_DIR, Settings
from orchestration.warehouse.audit import Audit, PublishBlocked
from orchestration.warehouse.connection import writer_lock
from orchestration.warehouse.load import TableLoad
from orchestration.warehouse.registry import get_warehouse

log = logging.getLogger(__name__)


@dataclass
class BuildResult:
    audit: Audit
    loads: list[TableLoad]
    published: bool
    seconds: float
    node_seconds: dict[str, float]


@contextlib.contextmanager
def settings_environment(settings: Settings) -> Iterator[None]:
    """Point profiles.yml at these settings for the duration of a dbt invocation."""
    wanted = {
        "TESSERA_TARGET": settings.target,
        "TESSERA_BUILD_DB": str(settings.build_db),
        "TESSERA_PG_HOST": settings.postgres.host,
        "TESSERA_PG_PORT": str(settings.postgres.port),
        "TESSERA_PG_USER": settings.postgres.user,
        "TESSERA_PG_PASSWORD": settings.postgres.password,
        "TESSERA_PG_DATABASE": settings.postgres.database,
        "TESSERA_PG_BUILD_SCHEMA": settings.postgres.build_schema,
        "DBT_SEND_ANONYMOUS_USAGE_STATS": "false",
    }
    saved = {name: os.environ.get(name) for name in wanted}
    os.environ.update(wanted)
    try:
        yield
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


def run_dbt(settings: Settings, args: list[str]) -> dict:
    """Run one dbt command against `settings`; returns its run_results.json.

    dbt runs in a subprocess, as under Dagster: in-process, dbt-duckdb keeps the build file open,
    and after publishing renamed it, that handle would point at the published file.
    Its target folder stays beside the build file, so the next run on the same warehouse parses
    only the files that changed (a new folder for every run meant parsing the whole project)."""
    target = settings.build_db.parent / f"dbt-target-{settings.target}"
    results_path = target / "run_results.json"
    results_path.unlink(missing_ok=True)
    with settings_environment(settings):
        command = [
            str(Path(sys.executable).parent / "dbt"),
            *args,
            "--project-dir",
            str(PROJECT_DIR),
            "--profiles-dir",
            str(PROJECT_DIR),
            "--target",
            settings.target,
            "--target-path",
            str(target),
            "--quiet",
        ]
        subprocess.run(command, check=False, env=os.environ.copy())
        if not results_path.exists():
            raise RuntimeError(f"dbt {' '.join(args)} produced no run results (a parse or connection error?)")
        return json.loads(results_path.read_text())


def build_models(settings: Settings, *, full_refresh: bool = False) -> dict:
    """`dbt build` of the whole project into the build database or schema; the combined run results.

    One dbt invocation on DuckDB; elsewhere one per phase, with the Python steps that dbt cannot run
    there (identity matching, scoring) between them (orchestration/build/outside_dbt.py). A failed step is
    recorded as a failed node, and ends the build there."""
    results: list[dict] = []
    steps = outside_steps(settings)
    try:
        for phase, selection in enumerate(dbt_build_phases(settings)):
            if phase:
                step = steps[phase - 1]
                try:
                    step.run(settings)
                except Exception as error:  # recorded in the audit, which then blocks publishing
                    log.error("%s failed: %s", step.name, error)
                    results.append(step.failed_result(error))
                    break
            phase_results = run_dbt(
                settings, ["build", *selection, *(["--full-refresh"] if full_refresh else [])]
            )
            results.extend(phase_results.get("results", []))
    finally:
        drop_written_tables(settings)
    return {"results": results}


def build(settings: Settings, *, full_refresh: bool = False, publish: bool = True) -> BuildResult:
    """One whole build: start from the published state, load raw files, dbt build, audit, publish."""
    started = time.monotonic()
    # The static audience checks (rules, references, cycles, raw SQL conditions) take milliseconds;
    # the Dagster build also compiles models/audiences/ and checks each model's SQL.
    load_project(PROJECT_DIR / "dbt_project.yml", PROJECT_DIR / "models" / "audiences", settings.target)
    warehouse = get_warehouse(settings)
    with writer_lock(settings):
        warehouse.prepare_build()
        loads = warehouse.load_raw(settings.raw_dir)
        run_results = build_models(settings, full_refresh=full_refresh)
        audit = Audit.from_run_results(run_results)
        audit.write(settings.audit_path)
        published = False
        if publish and audit.passed:
            warehouse.publish()
            published = True
        elif publish:
            raise PublishBlocked(
                f"Not publishing: {len(audit.failures)} gating node(s) failed: "
                + "; ".join(f"{f['node']}: {f['message'][:200]}" for f in audit.failures[:10])
            )
    node_seconds = {
        r["unique_id"].split(".")[-1]: float(r.get("execution_time") or 0.0)
        for r in run_results.get("results", [])
        if r["unique_id"].startswith("model.")
    }
    return BuildResult(audit, loads, published, time.monotonic() - started, node_seconds)
