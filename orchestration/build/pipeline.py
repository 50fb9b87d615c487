"""The build path: prepare → load → phased dbt build with its Python steps → audit → publish.

`phased_build` (the phases and the Python steps between them) and `record_audit` are the one
implementation: Dagster's dbt asset (orchestration/build/assets/dbt.py) runs them with dbt streaming
its events into Dagster, and `build` / `build_models` (benchmarks, tests, erasure, retention) run them
with dbt as a plain subprocess and then report what they built to Dagster as materializations
(orchestration/build/dagster_events.py), so every rebuild shows in the Dagster UI.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
import shutil
import subprocess
import time
from collections.abc import Callable, Collection, Generator, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from orchestration.audiences.definitions import audiences_dir, dbt_vars_args
from orchestration.audiences.rules import load_project
from orchestration.build.audience_sandbox import SandboxPlan
from orchestration.build.dagster_events import report_materializations
from orchestration.build.landing import record_landed
from orchestration.build.outside_dbt import (
    dbt_build_phases,
    drop_written_tables,
    outside_steps,
    phase_members,
    select_exactly,
)
from orchestration.build.unit_tests import (
    code_fingerprint,
    manifest_unit_tests,
    unit_tests_when_code_changed,
    verified_code,
)
from orchestration.settings import PROJECT_DIR, Settings, dbt_executable
from orchestration.warehouse.audit import Audit, PublishBlocked
from orchestration.warehouse.connection import writer_lock
from orchestration.warehouse.files import written_aside
from orchestration.warehouse.load import TableLoad
from orchestration.warehouse.postgres_sandbox import (
    SANDBOX_TARGET,
    close_sandbox,
    ensure_role,
    lock_connection,
    open_sandbox,
    sandbox_lock,
    sandbox_role,
)
from orchestration.warehouse.registry import get_warehouse

log = logging.getLogger(__name__)


@dataclass
class BuildResult:
    audit: Audit
    loads: list[TableLoad]
    published: bool
    seconds: float
    # dbt's run_results entries of every phase (timing included): `tessera bench build` reads them.
    results: list[dict]

    @property
    def node_seconds(self) -> dict[str, float]:
        """dbt's execution seconds per model, by name."""
        return {
            r["unique_id"].split(".")[-1]: float(r.get("execution_time") or 0.0)
            for r in self.results
            if r["unique_id"].startswith("model.")
        }


@contextlib.contextmanager
def environment(wanted: dict[str, str]) -> Iterator[None]:
    """Set these environment variables while open; the earlier values (or their absence) come back after."""
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
        "TESSERA_DUCKDB_MEMORY_LIMIT": settings.duckdb_memory_limit,
        "TESSERA_DUCKDB_TEMP_DIR": str(settings.duckdb_spill_dir),
        "DBT_SEND_ANONYMOUS_USAGE_STATS": "false",
    }
    with environment(wanted):
        yield


def _dbt(settings: Settings, args: list[str], *, output: bool = True, target: str | None = None) -> Path:
    """Run one dbt command against `settings` as a subprocess, quietly (`output=False`: silently, for a
    command whose results file says everything); returns its target folder.

    dbt runs in a subprocess, as under Dagster: in-process, dbt-duckdb keeps the build file open,
    and after publishing renamed it, that handle would point at the published file.
    Its target folder stays beside the build file, so the next run on the same warehouse parses
    only the files that changed (a new folder for every run meant parsing the whole project).
    `target` names another profiles.yml target (the audience sandbox's), with a folder of its own."""
    quiet = {} if output else {"stdout": subprocess.DEVNULL, "stderr": subprocess.DEVNULL}
    return _dbt_started(settings, args, target, **quiet)[0]


def _dbt_started(
    settings: Settings, args: list[str], target: str | None = None, **streams: Any
) -> tuple[Path, subprocess.CompletedProcess]:
    """One dbt subprocess (`streams`: subprocess.run's stdout, stderr or capture_output), started from the
    partial parse of its configuration where the target folder has none yet, and keeping its parse as
    that configuration's seed when it wrote the first one (PARSE_SEEDS_ENV). Its target folder and
    outcome."""
    target_path = settings.build_db.parent / f"dbt-target-{target or settings.target}"
    command = _dbt_command(settings, args, target)
    seed = _parse_seed(settings, command)
    seed_partial_parse(target_path, seed)
    before = _parse_stamp(target_path)
    with settings_environment(settings):
        done = subprocess.run(command, check=False, **_dbt_process(settings), **streams)
    if done.returncode == 0 and _parse_stamp(target_path) != before:
        keep_parse_seed(target_path, seed)
    return target_path, done


def _parse_stamp(target_path: Path) -> tuple[int, int] | None:
    """When, and how large, the target folder's partial parse was written (None: there is none)."""
    try:
        stat = (target_path / "partial_parse.msgpack").stat()
    except FileNotFoundError:
        return None
    return stat.st_mtime_ns, stat.st_size


def _dbt_process(settings: Settings) -> dict[str, Any]:
    """Where and with what environment a dbt subprocess of the build starts: in the build folder, with
    the warehouse's profile paths relative to it (Warehouse.dbt_profile_environment)."""
    settings.build_db.parent.mkdir(parents=True, exist_ok=True)
    env = {**os.environ, **get_warehouse(settings).dbt_profile_environment()}
    # dbt reads a relative log folder against where it starts; the privacy scans read it against the project.
    if env.get("DBT_LOG_PATH") and not Path(env["DBT_LOG_PATH"]).is_absolute():
        env["DBT_LOG_PATH"] = str(PROJECT_DIR / env["DBT_LOG_PATH"])
    return {"cwd": settings.build_db.parent, "env": env}


# A folder of partial parses to start a new warehouse folder from, one per configuration (the tests
# share one across a run, tests/conftest.py); unset, a new folder starts from the project's target/.
PARSE_SEEDS_ENV = "TESSERA_DBT_PARSE_SEEDS"


def _parse_seed(settings: Settings, command: list[str]) -> Path | None:
    """The seed file for this dbt command's configuration (target, vars, the profile's settings), in
    the folder PARSE_SEEDS_ENV names; None when it names none."""
    folder = os.environ.get(PARSE_SEEDS_ENV)
    if not folder:
        return None
    vars_at = command.index("--vars") + 1 if "--vars" in command else None
    profile = command[command.index("--target") + 1]
    pg = settings.postgres
    key = json.dumps(
        [
            str(PROJECT_DIR),
            settings.duckdb_memory_limit,
            profile,
            command[vars_at] if vars_at else "",
            get_warehouse(settings).dbt_profile_environment(),
            [pg.host, pg.port, pg.database, pg.build_schema],
        ],
        sort_keys=True,
    )
    return Path(folder) / f"{hashlib.sha256(key.encode()).hexdigest()[:20]}.msgpack"


def seed_partial_parse(target_path: Path, seed: Path | None = None) -> None:
    """Give a target folder that has never been parsed a partial parse to start from: the seed of its
    configuration (PARSE_SEEDS_ENV) if there is one, else the project's own (the one Dagster's loader
    wrote), so its first dbt command parses only what changed instead of the whole project (about 5 s).
    dbt checks the copy itself (vars, profile, environment) and parses in full when it does not fit, so
    a stale copy costs nothing; the project's own fits where the profile names no local file (Postgres,
    Spark), and DuckDB's build, which names its file relative to the build folder, fits a seed. A folder
    with a parse of its own keeps it: it fits its world better."""
    partial = PROJECT_DIR / os.environ.get("DBT_TARGET_PATH", "target") / "partial_parse.msgpack"
    if seed is not None and seed.exists():
        partial = seed
    if partial.exists() and not (target_path / "partial_parse.msgpack").exists():
        target_path.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(partial, target_path / "partial_parse.msgpack")


def keep_parse_seed(target_path: Path, seed: Path | None) -> None:
    """The first parse of a configuration becomes its seed (written aside, then renamed into place). Best
    effort: a seed not written costs a later world a whole parse, nothing more."""
    parsed = target_path / "partial_parse.msgpack"
    if seed is None or seed.exists() or not parsed.exists():
        return
    with contextlib.suppress(OSError), written_aside(seed) as aside:
        shutil.copyfile(parsed, aside)


def _dbt_command(settings: Settings, args: list[str], target: str | None = None) -> list[str]:
    profile_target = target or settings.target
    return [
        dbt_executable(),
        *dbt_vars_args(args),
        "--project-dir",
        str(PROJECT_DIR),
        "--profiles-dir",
        str(PROJECT_DIR),
        "--target",
        profile_target,
        "--target-path",
        str(settings.build_db.parent / f"dbt-target-{profile_target}"),
        "--quiet",
    ]


def selected_manifest(settings: Settings, args: list[str]) -> tuple[dict[str, Any], set[str]]:
    """`dbt ls` of the selection `args`: the manifest it writes, and the names of the nodes selected."""
    target_path, listed = _dbt_started(
        settings, ["ls", *args, "--output", "name"], capture_output=True, text=True
    )
    path = target_path / "manifest.json"
    if listed.returncode != 0 or not path.exists():
        raise RuntimeError(f"dbt ls failed: {(listed.stdout + listed.stderr).strip()[-2000:]}")
    return json.loads(path.read_text()), {line.strip() for line in listed.stdout.splitlines() if line.strip()}


def run_dbt(settings: Settings, args: list[str], *, target: str | None = None) -> dict:
    """Run one dbt command against `settings` (on another profiles.yml `target`); returns its run_results.json."""
    results_path = settings.build_db.parent / f"dbt-target-{target or settings.target}" / "run_results.json"
    results_path.unlink(missing_ok=True)
    _dbt(settings, args, target=target)
    if not results_path.exists():
        raise RuntimeError(f"dbt {' '.join(args)} produced no run results (a parse or connection error?)")
    return json.loads(results_path.read_text())


def check_source_freshness(
    settings: Settings, run: Callable[[list[str]], Any] | None = None
) -> dict[str, int]:
    """`dbt source freshness` over the loaded raw tables, written to `settings.freshness_path`, where the
    syncs read it (a sync holds its removals after a failed check, orchestration/sync/holds.py).

    A stale source does not stop the build: it is counted and logged by source name, and the syncs
    decide what it means for deletes. An empty table has no load time (dbt reports 0001-01-01): it is
    counted as `empty`, not as stale. Returns the number of sources per status. `run` runs the dbt
    command (its arguments, without the analyst vars); by default a subprocess in the build folder. The
    Dagster build passes its own dbt resource: the same profile as its `dbt build`, so dbt reuses the
    project's partial parse instead of parsing the whole project for a profile of its own."""
    path = settings.freshness_path
    path.unlink(missing_ok=True)
    args = ["source", "freshness", "--output", str(path)]
    if run is None:
        _dbt(settings, args, output=False)
    else:
        run(args)
    if not path.exists():
        raise RuntimeError("dbt source freshness wrote no results (a parse or connection error?)")
    statuses: dict[str, int] = {}
    late = []
    for result in json.loads(path.read_text()).get("results") or []:
        status = "empty" if is_empty_source(result) else str(result.get("status", "?"))
        statuses[status] = statuses.get(status, 0) + 1
        if status not in ("pass", "empty"):
            late.append(f"{str(result.get('unique_id', '?')).removeprefix('source.')} ({status})")
    if late:
        log.warning("source freshness: not fresh: %s", ", ".join(sorted(late)))
    return statuses


def is_empty_source(result: dict[str, Any]) -> bool:
    """A `dbt source freshness` result for a table with no rows (its max load time is null, which dbt
    reports as the year 1)."""
    return str(result.get("max_loaded_at") or "").startswith("0001-01-01")


# A dbt build of one selection: a generator that may yield events (Dagster's) and returns run_results entries.
DbtBuild = Callable[[list[str]], Generator[Any, None, list[dict]]]


def phased_build(
    settings: Settings,
    dbt_build: DbtBuild,
    manifest: dict[str, Any] | None = None,
    hold_back: Collection[str] = (),
    selected: Collection[str] | None = None,
    exact: bool = False,
) -> Generator[Any, None, list[dict]]:
    """`dbt build` of the whole project into the build database or schema, in phases; yields whatever
    `dbt_build` yields, and returns the combined run_results entries.

    One phase on DuckDB; elsewhere one per Python step that dbt cannot run there (identity matching,
    scoring), which runs between the phases (orchestration/build/outside_dbt.py). A failed step is
    recorded as a failed node, and ends the build there. Under Dagster pass the manifest
    (outside_dbt.dbt_build_phases says why). Every phase leaves out the nodes named in `hold_back`
    (what `sandboxed_build` builds after). A build narrowed to `selected` (node names) skips the steps
    whose models it does not build. With `exact` (and the manifest; not under Dagster) each phase names
    the nodes it runs, narrowed to `selected`, instead of excluding the others (`phase_selections`)."""
    results: list[dict] = []
    steps = outside_steps(settings)
    selections = (
        phase_selections(settings, manifest, hold_back, selected)
        if exact and manifest is not None
        else [exclude_also(selection, hold_back) for selection in dbt_build_phases(settings, manifest)]
    )
    try:
        for phase, selection in enumerate(selections):
            if phase:
                step = steps[phase - 1]
                if selected is not None and not set(step.models) & set(selected):
                    # Its phase still runs: a selected model reading the step's tables then fails loudly.
                    log.info("%s outside dbt: not run, the build does not select its models", step.name)
                else:
                    try:
                        figures = step.run(settings)
                        log.info("%s outside dbt: %s", step.name, figures)
                    except Exception as error:  # recorded in the audit, which then blocks publishing
                        log.error("%s failed: %s", step.name, error)
                        results.append(step.failed_result(error))
                        break
            if selection is not None:
                results.extend((yield from dbt_build(selection)))
    finally:
        drop_written_tables(settings)
    return results


def phase_selections(
    settings: Settings,
    manifest: dict[str, Any],
    hold_back: Collection[str] = (),
    selected: Collection[str] | None = None,
) -> list[list[str] | None]:
    """Each phase's selection by the names of the nodes it runs (outside_dbt.select_exactly): its members
    less `hold_back`, narrowed to `selected`; None for a phase left with nothing to run, which then
    needs no dbt invocation."""
    wanted = None if selected is None else set(selected)
    selections: list[list[str] | None] = []
    for members in phase_members(settings, manifest):
        names = members - set(hold_back)
        if wanted is not None:
            names &= wanted
        selections.append(select_exactly(names) if names else None)
    return selections


def exclude_also(selection: list[str], names: Collection[str]) -> list[str]:
    """Selection arguments that leave out `names` too (added to the one --exclude value)."""
    if not names:
        return selection
    held = " ".join(sorted(names))
    if "--exclude" not in selection:
        return [*selection, "--exclude", held]
    start = selection.index("--exclude") + 1
    end = next((i for i in range(start, len(selection)) if selection[i].startswith("--")), len(selection))
    return [*selection[:start], " ".join([*selection[start:end], held]), *selection[end:]]


def sandboxed_build(
    settings: Settings,
    dbt_build: DbtBuild,
    manifest: dict[str, Any],
    sandbox_build: DbtBuild,
    selected: set[str] | None = None,
    exact: bool = False,
) -> Generator[Any, None, list[dict]]:
    """The phased build, with analyst audience SQL built apart on Postgres (docs/audiences.md):

    1. the usual phases, without the sandboxed audience models and what follows them;
    2. the sandboxed models (and their unit tests) in a dbt invocation of their own, `sandbox_build`,
       logged in as the sandbox role (profiles.yml target postgres_audience_sandbox). The build's own
       connection first makes sure the role is safe and grants it exactly what the models read, and
       afterwards drops whatever else the role left in the build schema (a failed node naming it),
       hands the tables back and revokes the grants;
    3. the tail (the models' data tests, the project's audience models) as the build's user.

    Elsewhere (DuckDB) just the phased build: one invocation, its file access switched off. A build
    narrowed to `selected` (node names) skips the steps 2 and 3 where they would build nothing.
    `exact`: every invocation names the nodes it runs (phased_build says when)."""
    if not get_warehouse(settings).audiences_build_as_a_role:
        return (yield from phased_build(settings, dbt_build, manifest, selected=selected, exact=exact))
    plan = SandboxPlan.from_manifest(manifest)
    if not plan.models:
        return (yield from phased_build(settings, dbt_build, manifest, selected=selected, exact=exact))
    _ensure_role(settings)  # an unsafe role stops the build before anything runs
    results = yield from phased_build(
        settings, dbt_build, manifest, hold_back=plan.held_back, selected=selected, exact=exact
    )
    failed = [r for r in results if r.get("status") in ("error", "fail", "runtime error")]
    if failed:
        log.error(
            "audience sandbox: not building the analyst audiences, %d node(s) before them failed", len(failed)
        )
        return results
    sandboxed = plan.sandboxed if selected is None else plan.sandboxed & selected
    tail = plan.tail if selected is None else plan.tail & selected
    if sandboxed:
        started = time.monotonic()
        selection = select_exactly(sandboxed) if exact else plan.sandbox_selection()
        results.extend((yield from _in_sandbox(settings, plan, sandbox_build, selection)))
        log.info("audience sandbox: built as %s in %.1f s", sandbox_role(), time.monotonic() - started)
    if tail:
        started = time.monotonic()
        results.extend((yield from dbt_build(select_exactly(tail) if exact else plan.tail_selection())))
        log.info("audience sandbox: the tail built in %.1f s", time.monotonic() - started)
    return results


def _ensure_role(settings: Settings) -> None:
    """The sandbox role exists and is safe (SandboxRefused otherwise)."""
    with contextlib.closing(get_warehouse(settings).connect()) as con:  # type: ignore[attr-defined]
        with con.cursor() as cur:
            password = os.environ.get("TESSERA_PG_SANDBOX_PASSWORD") or None
            ensure_role(cur, sandbox_role(), settings.postgres.user, password)
        con.commit()


def _in_sandbox(
    settings: Settings, plan: SandboxPlan, sandbox_build: DbtBuild, selection: list[str] | None = None
) -> Generator[Any, None, list[dict]]:
    """Open the sandbox, build the sandboxed nodes as its role (`selection`, by default the plan's),
    close it; a breach is a failed node."""
    role, pg = sandbox_role(), settings.postgres
    grants = plan.grants(pg.build_schema)
    warehouse = get_warehouse(settings)
    _ensure_role(settings)
    # One build's sandbox at a time (the role is cluster-wide): held from before the grants until
    # the tables are handed back and the grants revoked.
    with contextlib.closing(lock_connection(pg)) as lock, sandbox_lock(lock, role):
        with contextlib.closing(warehouse.connect()) as con:  # type: ignore[attr-defined]
            open_sandbox(con, grants, role)
        results: list[dict] = []
        try:
            results = yield from sandbox_build(selection or plan.sandbox_selection())
        finally:
            with contextlib.closing(warehouse.connect()) as con:  # type: ignore[attr-defined]
                breaches = close_sandbox(con, grants, role, pg.user)
    for breach in breaches:
        results.append(
            {
                "unique_id": "model.tessera.audience_sandbox",
                "status": "error",
                "message": f"audience sandbox breached: the role {role} left {breach} (dropped)",
            }
        )
    return results


def build_sandboxed_audiences(
    settings: Settings,
    select: list[str] | None = None,
    args: list[str] | None = None,
    manifest: dict[str, Any] | None = None,
) -> list[dict]:
    """Postgres: only the sandbox step of the build (open, the sandboxed models as the role, close),
    over the build schema as it is; `select` narrows it, `args` go to dbt build. Returns the run_results entries, a breach
    included. For checking audiences against a built schema (and the sandbox's tests). The plan comes
    from `manifest` where given (one whose audience models and what they read are the ones to build:
    it saves a dbt parse), else from a parse of the configuration as it is now."""
    plan = SandboxPlan.from_manifest(manifest if manifest is not None else parsed_manifest(settings))

    def in_sandbox(selection: list[str]) -> Generator[Any, None, list[dict]]:
        build_args = ["build", *narrow_phase(selection, select or []), *(args or [])]
        results = run_dbt(settings, build_args, target=SANDBOX_TARGET)
        return results.get("results", [])
        yield  # a generator that yields no events

    steps = _in_sandbox(settings, plan, in_sandbox)
    while True:
        try:
            next(steps)
        except StopIteration as done:
            return list(done.value)


def parsed_manifest(settings: Settings, extra: list[str] | None = None) -> dict[str, Any]:
    """`dbt parse` with the analyst configuration (and `extra` arguments: the build's --vars); the
    manifest it writes."""
    target = _dbt(settings, ["parse", *(extra or [])], output=False)
    path = target / "manifest.json"
    if not path.exists():
        raise RuntimeError("dbt parse wrote no manifest (a parse or connection error?)")
    return json.loads(path.read_text())


def record_audit(settings: Settings, results: list[dict], unit_tests_code: str | None = None) -> Audit:
    """Judge the build's results and keep the verdict beside the build (the publish step reads it), with
    the code fingerprint the unit tests passed on, if they did (orchestration/build/unit_tests.py)."""
    audit = Audit.from_run_results({"results": results}, unit_tests_code)
    audit.write(settings.audit_path)
    log.info(
        "audit: %s (%d tests passed, %d warned, %d failures)",
        "passed" if audit.passed else "FAILED",
        audit.tests_passed,
        audit.tests_warned,
        len(audit.failures),
    )
    return audit


def narrow_phase(phase: list[str], select: list[str]) -> list[str]:
    """A phase's selection arguments narrowed to the nodes `select` names too (dbt's `a,b` selects
    the intersection of a and b; a list of them, the union)."""
    if not select:
        return phase
    if "--select" not in phase:
        return ["--select", *select, *phase]
    start = phase.index("--select") + 1
    end = next((i for i in range(start, len(phase)) if phase[i].startswith("--")), len(phase))
    narrowed = [f"{theirs},{mine}" for theirs in phase[start:end] for mine in select]
    return [*phase[: start - 1], "--select", *narrowed, *phase[end:]]


def build_models(
    settings: Settings,
    *,
    full_refresh: bool = False,
    reason: str = "build",
    select: list[str] | None = None,
    exclude_resource_types: list[str] | None = None,
    dbt_vars: dict[str, Any] | None = None,
    report: bool = True,
) -> dict:
    """The phased build with dbt as a subprocess; reported to Dagster as materializations (`reason`
    says what asked for the build: a benchmark, an erasure, retention). Returns the run results.

    `select` narrows every phase to those nodes, `dbt_vars` overrides project vars, and `report=False`
    keeps a build that is never published (a what-if, orchestration/identity/diff.py) out of Dagster."""
    # A narrowed build runs the data tests whose every parent it builds (dbt's "cautious" indirect
    # selection): a test also reading a model outside the selection would meet a table not built.
    narrowed = ["--indirect-selection", "cautious"] if select else []
    common = [
        *(["--exclude-resource-type", *exclude_resource_types] if exclude_resource_types else []),
        *(["--vars", json.dumps(dbt_vars)] if dbt_vars else []),
        *(["--full-refresh"] if full_refresh else []),
    ]
    extra = [*common, *narrowed]

    def subprocess_build(selection: list[str], target: str | None = None) -> Generator[Any, None, list[dict]]:
        args = ["build", *narrow_phase(selection, select or []), *extra]
        results = run_dbt(settings, args, target=target) if target else run_dbt(settings, args)
        return results.get("results", [])
        yield  # a generator that yields no events

    # With the manifest, each invocation names exactly its nodes, already narrowed (phased_build).
    def exact_build(selection: list[str], target: str | None = None) -> Generator[Any, None, list[dict]]:
        results = run_dbt(settings, ["build", *selection, *common], target=target)
        return results.get("results", [])
        yield  # a generator that yields no events

    def in_sandbox(selection: list[str]) -> Generator[Any, None, list[dict]]:
        return exact_build(selection, SANDBOX_TARGET)

    as_a_role = get_warehouse(settings).audiences_build_as_a_role
    if as_a_role and select:
        listing = [
            "--select",
            *select,
            *narrowed,
            *(["--exclude-resource-type", *exclude_resource_types] if exclude_resource_types else []),
            *(["--vars", json.dumps(dbt_vars)] if dbt_vars else []),
        ]
        manifest, selected = selected_manifest(settings, listing)
        phases = sandboxed_build(settings, exact_build, manifest, in_sandbox, selected, exact=True)
    elif as_a_role:
        started = time.monotonic()
        # The same vars as the build, or the plan could miss an audience the vars add.
        manifest = parsed_manifest(settings, ["--vars", json.dumps(dbt_vars)] if dbt_vars else [])
        log.info("dbt parse for the audience sandbox's plan: %.1f s", time.monotonic() - started)
        phases = sandboxed_build(settings, exact_build, manifest, in_sandbox, exact=True)
    else:
        phases = phased_build(settings, subprocess_build)
    while True:
        try:
            next(phases)
        except StopIteration as done:
            results: list[dict] = done.value
            break
    if report:
        report_materializations(settings, results, reason=reason)
    return {"results": results}


# Set to true, the incremental event-log base models stage every raw row again, not only the messages loaded
# since the last build (macros/staging/incremental_deliveries.sql): `tessera run --restage`, and every
# rebuild after raw rows changed in place (an erase, retention), which an incremental build would not see.
RESTAGE_EVENTS_ENV = "TESSERA_RESTAGE_EVENTS"


@contextlib.contextmanager
def restaging_events(restage: bool = True) -> Iterator[None]:
    """dbt commands started inside stage every raw event row again (RESTAGE_EVENTS_ENV); then as before."""
    if not restage:
        yield
        return
    before = os.environ.get(RESTAGE_EVENTS_ENV)
    os.environ[RESTAGE_EVENTS_ENV] = "true"
    try:
        yield
    finally:
        if before is None:
            os.environ.pop(RESTAGE_EVENTS_ENV, None)
        else:
            os.environ[RESTAGE_EVENTS_ENV] = before


def build_and_audit(
    settings: Settings,
    *,
    full_refresh: bool = False,
    reason: str = "build",
    dbt_vars: dict[str, Any] | None = None,
    select: list[str] | None = None,
    restage: bool = False,
) -> tuple[Audit, list[dict]]:
    """`build_models` into the prepared build, then its audit: the step every rebuild outside Dagster
    shares (a build, retention, an erase). The dbt unit tests run only when the code changed since
    they last passed (orchestration/build/unit_tests.py). `restage` stages every raw event row again
    (restaging_events). Returns the audit and the run results."""
    fingerprint = code_fingerprint(settings, dbt_vars)
    with unit_tests_when_code_changed(settings, fingerprint) as skipped, restaging_events(restage):
        ran = build_models(
            settings, full_refresh=full_refresh, reason=reason, dbt_vars=dbt_vars, select=select
        )["results"]
    unit_tests = manifest_unit_tests(
        settings.build_db.parent / f"dbt-target-{settings.target}" / "manifest.json"
    )
    return record_audit(settings, ran, verified_code(fingerprint, skipped, unit_tests, ran)), ran


def build(
    settings: Settings,
    *,
    full_refresh: bool = False,
    publish: bool = True,
    reason: str = "build",
    dbt_vars: dict[str, Any] | None = None,
    select: list[str] | None = None,
) -> BuildResult:
    """One whole build: start from the published state, load raw files, dbt build, audit, publish.
    `dbt_vars` override project vars (a benchmark's simulated clock: audience_lift_as_of). `select`
    narrows it to those dbt selectors (and the tests of what it builds): the other tables keep the
    published state, or are absent in a new warehouse (tests of one layer on hand-made worlds)."""
    started = time.monotonic()
    # The static audience checks (rules, references, cycles, raw SQL conditions) take milliseconds;
    # the Dagster build also compiles models/audiences/ and checks each model's SQL.
    load_project(audiences_dir(PROJECT_DIR), PROJECT_DIR / "models" / "audiences", settings.target)
    warehouse = get_warehouse(settings)
    with writer_lock(settings):
        warehouse.prepare_build()
        record_landed(settings)
        loads = warehouse.load_raw(settings.raw_dir)
        audit, ran = build_and_audit(
            settings, full_refresh=full_refresh, reason=reason, dbt_vars=dbt_vars, select=select
        )
        published = False
        if publish and audit.passed:
            warehouse.publish()
            published = True
        elif publish:
            raise PublishBlocked(
                f"Not publishing: {len(audit.failures)} gating node(s) failed: "
                + "; ".join(f"{f['node']}: {f['message'][:200]}" for f in audit.failures[:10])
            )
    return BuildResult(audit, loads, published, time.monotonic() - started, ran)
