"""The `tessera` command line: generate demo data, run the pipeline, open the UI, benchmark."""

from __future__ import annotations

import contextlib
import json
import logging
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import click
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from orchestration.audiences.cli import audiences, bench_audiences, bench_lift
from orchestration.build.cli import (
    bench_build_command,
    bench_events,
    bench_events_mart,
    bench_increments,
    bench_landing_command,
    bench_spark,
    bench_staging,
)
from orchestration.consent.cli import consent
from orchestration.generate.cli import bench_generate, generate
from orchestration.identity.cli import (
    bench_febrl,
    bench_identity,
    bench_probabilistic,
    identity,
    profile,
    review,
)
from orchestration.person_sources.cli import bench_sources, sources
from orchestration.predictions.cli import bench_predictions
from orchestration.privacy.cli import privacy
from orchestration.privacy.masking_cli import masked_file
from orchestration.retention.cli import bench_retention, retention
from orchestration.settings import PROJECT_DIR, Settings
from orchestration.sync.cli import bench_sync, sync

console = Console()
DAGSTER_HOME = PROJECT_DIR / ".dagster"


def _settings() -> Settings:
    return Settings.from_env()


@click.group()
@click.option("-v", "--verbose", is_flag=True, help="Log debug output.")
def main(verbose: bool) -> None:
    """Tessera: a warehouse-native customer data platform."""
    level = logging.DEBUG if verbose else logging.WARNING
    logging.basicConfig(level=level, format="%(levelname)s %(message)s")
    # Libraries that set their own loggers' level (dagster-dbt logs each dbt command line at INFO)
    # still reach the terminal only at this level: quiet by default, everything with -v.
    for handler in logging.getLogger().handlers:
        handler.setLevel(level)
    os.environ.setdefault("DAGSTER_HOME", str(DAGSTER_HOME))
    os.environ.setdefault("DBT_SEND_ANONYMOUS_USAGE_STATS", "false")


def _ensure_manifest() -> None:
    from orchestration.build.project import prepare_manifest

    prepare_manifest(_settings())


_RETRAIN = click.option(
    "--retrain",
    is_flag=True,
    help="Train the matching model and the prediction classifiers anew instead of reusing the kept ones.",
)


@contextlib.contextmanager
def _asked(*, retrain: bool, restage: bool) -> Iterator[None]:
    """What the command asks of the builds it starts, while it runs: a retrain of the matching model and the
    prediction classifiers (read by int_identity__match_model_kept and int_prediction_model_kept; docs/identity.md
    and docs/predictions.md, "When models are retrained"), and a restage of every raw event row (read by the
    incremental event-log base models, macros/staging/incremental_deliveries.sql). The environment is put back
    afterwards, so a command run in-process (a test's CliRunner, a notebook) asks nothing of later builds."""
    from orchestration.build.pipeline import RESTAGE_EVENTS_ENV, environment

    wanted = dict.fromkeys(
        ["TESSERA_IDENTITY_RETRAIN", "TESSERA_PREDICTIONS_RETRAIN"] if retrain else [], "true"
    )
    if restage:
        wanted[RESTAGE_EVENTS_ENV] = "true"
    with environment(wanted):
        yield


@main.command()
@_RETRAIN
@click.option(
    "--restage",
    is_flag=True,
    help="Stage every raw event row again, not only the messages loaded since the last build "
    "(after raw rows were changed or back-filled outside the lookback).",
)
def run(retrain: bool, restage: bool) -> None:
    """Build the declared sources (sources/presets.yml, person sources, raw files in data/raw/) through the
    Dagster job build_everything, then print a summary. Generates nothing: `tessera demo` does."""
    settings = _settings()
    _say_which_sources(settings)
    problem = _missing_demo_data(settings)
    if problem:
        console.print(f"[red]{escape(problem)}[/red]", soft_wrap=True)
        sys.exit(2)
    with _asked(retrain=retrain, restage=restage):
        _run_pipeline(settings)


@main.command()
@click.option("--customers", default=10_000, show_default=True, help="Demo size when data must be generated.")
@click.option("--seed", default=42, show_default=True)
@click.option("--regenerate", is_flag=True, help="Generate the demo data again even if it exists.")
@click.option(
    "--shapes",
    type=click.Choice(["loaders", "contract"]),
    default="loaders",
    show_default=True,
    help="loaders: events, shop, CRM, support and email as Segment's and Fivetran's connectors write them, "
    "read in place through their presets (DuckDB and Postgres); contract: the raw files of docs/raw_schema.md.",
)
@_RETRAIN
def demo(customers: int, seed: int, regenerate: bool, shapes: str, retrain: bool) -> None:
    """Generate the demo world into data/ (unless the same one is there), then run as `tessera run` does."""
    settings = _settings()
    from orchestration.warehouse.registry import get_warehouse

    warehouse = get_warehouse(settings)
    if shapes == "loaders" and not warehouse.writes_demo_loader_tables:
        console.print(
            f"demo data: the loaders' shapes are not written into {settings.target}; the raw contract instead"
        )
        shapes = "contract"
    from orchestration.source_presets.config import demo_presets_file

    # The demo's declarations name the loader file it wrote: gone, they would fail the configuration check
    # (a declared database file must exist), and the world is generated again below anyway.
    demo_presets = demo_presets_file(settings.data_dir, settings.target)
    if warehouse.demo_loader_database() and demo_presets.exists() and not _demo_sources_present(settings):
        demo_presets.unlink()
    if not _config_ok(settings):
        sys.exit(2)  # before anything is generated or written into the warehouse
    marker = settings.data_dir / "generated.json"
    wanted = {"customers": customers, "seed": seed, "shapes": shapes}
    if (
        regenerate
        or not marker.exists()
        or json.loads(marker.read_text()) != wanted
        or (shapes == "loaders" and not _demo_sources_present(settings))
    ):
        from orchestration.generate import generate as run_generate

        with console.status(f"generating demo data: {customers:,} customers (seed {seed}) …"):
            run_generate(customers=customers, seed=seed, out=settings.data_dir)
            for path in settings.data_dir.glob("presets.*.yml"):
                path.unlink()  # any target's: its loader tables hold the world generated before
            if shapes == "loaders":
                _write_demo_sources(settings)
            else:
                warehouse.drop_demo_loader_tables()
        marker.write_text(json.dumps(wanted))
    else:
        console.print(
            f"demo data: reusing {settings.data_dir} ({customers:,} customers, seed {seed}, {shapes})"
        )
        if shapes == "loaders":
            warehouse.restamp_demo_loader_tables()
    _say_which_sources(settings)
    # The demo wrote its loader tables anew, or restamped them: every row is new, so every row is staged again.
    with _asked(retrain=retrain, restage=True):
        _run_pipeline(settings)


def _write_demo_sources(settings: Settings) -> None:
    """Write the generated events, shop, CRM, support and email files as the loaders' tables (into a loader
    database file on DuckDB, schemas of the server's database on Postgres; read in place from there, like a
    company's), declare them for this target
    (data/presets.<target>.yml), and remove the files they came from: the tables are now the demo's only
    copy."""
    from orchestration.generate.loader_shapes import converted_files, write_presets_file
    from orchestration.source_presets.config import demo_presets_file
    from orchestration.warehouse.registry import get_warehouse

    warehouse = get_warehouse(settings)
    written = warehouse.write_demo_loader_tables(settings.raw_dir)
    write_presets_file(
        demo_presets_file(settings.data_dir, settings.target), list(written), warehouse.demo_loader_database()
    )
    for path in converted_files(settings.raw_dir, list(written)):
        path.unlink()


def _demo_sources_present(settings: Settings) -> bool:
    """True when the demo declared its loader tables for this target and they are where it wrote them (the
    warehouse's demo_loader_database, or the warehouse itself)."""
    from orchestration.generate.loader_shapes import declared_tables
    from orchestration.source_presets.config import demo_presets_file
    from orchestration.warehouse.registry import get_warehouse

    demo_presets = demo_presets_file(settings.data_dir, settings.target)
    if not demo_presets.exists():
        return False
    return get_warehouse(settings).demo_loader_tables_present(declared_tables(demo_presets))


def _say_which_sources(settings: Settings) -> None:
    """One line when the demo's declarations are the ones in use (source_presets.config.presets_path)."""
    from orchestration.source_presets.config import demo_presets_file, presets_path

    if presets_path() == demo_presets_file(settings.data_dir, settings.target):
        console.print(f"sources: the demo's, in the loaders' shapes ({_shown_path(str(presets_path()))})")


def _missing_demo_data(settings: Settings) -> str | None:
    """One line when a system reads the demo preset (declared, or by default) but data/raw/ holds no raw
    file for any of them: the user meant `tessera demo`, or has not declared their sources yet."""
    from orchestration.source_presets.config import (
        SourcePresetConfigError,
        demo_presets_file,
        load_presets,
        presets_path,
    )
    from orchestration.warehouse.load import present_raw_files

    demo_presets = demo_presets_file(settings.data_dir, settings.target)
    if presets_path() == demo_presets and not _demo_sources_present(settings):
        return (
            f"Nothing was run: {_shown_path(str(demo_presets))} declares the demo's loader tables, and they are "
            "not where the demo wrote them: run `tessera demo`, or declare your sources."
        )

    try:
        presets = load_presets()
    except SourcePresetConfigError:
        return None  # the configuration check names the problem
    demo = [system for system, declaration in presets.sources.items() if declaration.preset == "demo"]
    if not demo or {source for source, _, _ in present_raw_files(settings.raw_dir)} & set(demo):
        return None
    declared = _shown_path(str(presets_path()))
    return (
        f"Nothing was run: {_shown_path(str(settings.raw_dir))} holds no demo data, and {declared} leaves "
        f"{', '.join(demo)} on the demo preset: run `tessera demo`, or declare your sources in {declared}."
    )


def _run_pipeline(settings: Settings) -> None:
    """Check the configuration, run build_everything (then the syncs) and print the outcome; exits non-zero
    on a failure."""
    if not _config_ok(settings):
        sys.exit(2)
    with console.status("parsing the dbt project …"):
        _ensure_manifest()
    from dagster import DagsterInstance

    from orchestration.definitions import defs

    started = time.monotonic()
    run_log = settings.build_db.parent / "last_run.log"
    with (
        Console(file=sys.stdout).status(
            "running the Dagster job build_everything (load → dbt build → publish) …"
        ),
        _output_to(run_log),
        # Closed after the run: the event log keeps its SQLite connections open while the instance lives.
        DagsterInstance.get() as instance,
    ):
        result = (
            defs()
            .resolve_job_def("build_everything")
            .execute_in_process(
                instance=instance,
                raise_on_error=False,
                # The terminal gets the summary; every event is in the Dagster UI's run log.
                run_config=_quiet_run_config(),
            )
        )
    seconds = time.monotonic() - started
    if not result.success:
        failed = [event for event in result.all_events if event.is_step_failure]
        steps = ", ".join(dict.fromkeys(str(event.step_key) for event in failed)) or "?"
        for node in _failed_nodes(settings, failed)[1:6]:
            console.print(
                f"[red]also failed:[/red] dbt {escape(node['node'])} {node['status']}: "
                + escape(_one_line(node["message"])),
                soft_wrap=True,
            )
        if not _verbose():
            console.print(f"dbt's output: {escape(_shown_path(str(run_log)))}", soft_wrap=True)
        console.print(
            f"[red bold]The run failed after {seconds:.0f} s (step {escape(steps)}); nothing was published."
            "[/red bold]",
            soft_wrap=True,
        )
        console.print(f"[red]cause:[/red] {escape(_root_cause(settings, failed))}", soft_wrap=True)
        sys.exit(1)
    skipped = [str(event.step_key) for event in result.all_events if event.event_type_value == "STEP_SKIPPED"]
    if skipped:
        # Dagster counts a run whose steps were skipped (an upstream output not produced) as a success.
        console.print(
            f"[red bold]The run skipped step(s) {escape(', '.join(skipped))} after {seconds:.0f} s; nothing was "
            "published.[/red bold] See the Dagster UI's run log (make dev).",
            soft_wrap=True,
        )
        sys.exit(1)
    console.print(f"[green]Run {result.run_id[:8]} succeeded in {seconds:.0f} s.[/green]")
    _print_summary(settings)
    from orchestration.definitions import syncs_enabled

    if not syncs_enabled(settings):
        console.print("syncs: not run (none declared in syncs/syncs.yml, or this warehouse runs no syncs)")
        return
    with console.status("running the syncs (Dagster job run_syncs) …"), DagsterInstance.get() as instance:
        syncs = (
            defs()
            .resolve_job_def("run_syncs")
            .execute_in_process(
                instance=instance,
                raise_on_error=False,
                run_config=_quiet_run_config(),
            )
        )
    for event in syncs.all_events:
        if event.event_type_value == "ASSET_MATERIALIZATION" and event.asset_key:
            meta = event.event_specific_data.materialization.metadata  # type: ignore[union-attr]
            shown = ", ".join(f"{k} {v.value}" for k, v in meta.items() if getattr(v, "value", 0))
            console.print(f"sync [bold]{event.asset_key.to_user_string()}[/bold]: {shown}")
    if not syncs.success:
        console.print("[red]a sync failed; see the Dagster UI's run log (make dev)[/red]")
        sys.exit(1)


@main.command(name="check")
def check_command() -> None:
    """Check every configuration a run reads (syncs, retention, audiences, person sources), without running."""
    if not _config_ok(_settings()):
        sys.exit(2)
    console.print("[green]configuration: no problems (syncs, retention, audiences, person sources)[/green]")


def _shown_path(text: str) -> str:
    try:
        return str(Path(text).relative_to(Path.cwd()))
    except ValueError:
        return text


def _verbose() -> bool:
    return logging.getLogger().getEffectiveLevel() <= logging.DEBUG


def _quiet_run_config() -> dict:
    """Dagster's console log: nothing by default (the CLI prints the outcome and its cause; every event
    is in the Dagster UI's run log), dbt's command lines and the step events with -v."""
    return {"loggers": {"console": {"config": {"log_level": "INFO" if _verbose() else "CRITICAL"}}}}


@contextlib.contextmanager
def _output_to(path: Path) -> Iterator[None]:
    """Without -v, what the run writes to stdout (dagster-dbt re-emits every line of dbt's log there) goes
    to `path` instead of the terminal; with -v it stays on the terminal."""
    if _verbose():
        yield
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w") as log, contextlib.redirect_stdout(log):
        yield


def _config_ok(settings: Settings) -> bool:
    """Check every configuration a run reads before it starts; print one line per problem."""
    from orchestration.build.config_check import check_project_config

    problems = check_project_config(settings)
    for problem in problems:
        console.print(f"[red]{escape(problem.line())}[/red]", soft_wrap=True)
    if problems:
        console.print(f"[red bold]Nothing was run: {len(problems)} configuration problem(s).[/red bold]")
    return not problems


def _one_line(message: str) -> str:
    """A dbt or step message as one line: a Python traceback becomes its first and its last line."""
    lines = [line.strip() for line in message.splitlines() if line.strip()]
    if any(line.startswith("Traceback (most recent call last)") for line in lines):
        lines = [lines[0], lines[-1]]
    return " ".join(" ".join(lines).split())[:400]


def _failed_nodes(settings: Settings, failed: list) -> list[dict[str, str]]:  # type: ignore[type-arg]
    """The dbt nodes that failed in this run, in the order dbt finished them, without the ones skipped."""
    from orchestration.warehouse.audit import Audit

    if not any("dbt" in str(event.step_key) for event in failed):
        return []
    audit = Audit.read(settings.audit_path)
    if audit is None or audit.passed:
        return []
    return [f for f in audit.failures if f["status"] != "skipped"]


def _root_cause(settings: Settings, failed: list) -> str:  # type: ignore[type-arg]
    """One line naming what went wrong first: the first failing dbt node and its message when dbt's
    audit failed, else the first failed step's own message."""
    nodes = _failed_nodes(settings, failed)
    if nodes:
        first = nodes[0]
        return f"dbt {first['node']} {first['status']}: {_one_line(first['message'])}"
    for event in failed:
        data = event.step_failure_data
        if data is None:
            continue
        if data.user_failure_data is not None and data.user_failure_data.description:
            return _one_line(data.user_failure_data.description)
        if data.error is not None:
            lines = [line for line in data.error.message.splitlines() if line.strip()]
            return _one_line(lines[-1]) if lines else data.error.cls_name or "unknown error"
    return "unknown (see the Dagster UI's run log: make dev)"


@main.command()
def summary() -> None:
    """Print what the published warehouse holds: sources, staged rows, quarantine, tests."""
    _print_summary(_settings())


def _print_summary(settings: Settings) -> None:
    from orchestration.build.reporting import warehouse_summary
    from orchestration.warehouse.registry import get_warehouse

    report = warehouse_summary(settings)
    sources = Table(title="Sources loaded (or read in place) → staged (quarantined)")
    for column in ("raw table", "loaded", "staged", "quarantined"):
        sources.add_column(column, justify="left" if column == "raw table" else "right")
    for row in report["tables"]:
        preset = row.get("preset", "demo")
        name = row["table"] if preset == "demo" else f"{row['table']} ({preset}, in place)"
        sources.add_row(name, f"{row['loaded']:,}", f"{row['staged']:,}", f"{row['quarantined']:,}")
    console.print(sources)
    reasons = Table(title="Quarantine reasons")
    for column in ("raw table", "reason", "rows"):
        reasons.add_column(column, justify="right" if column == "rows" else "left")
    for row in report["quarantine"]:
        reasons.add_row(row["table"], row["reason"], f"{row['rows']:,}")
    console.print(reasons)
    ident = report["identity"]
    console.print(
        f"Identity: [bold]{ident['customers']:,} customers[/bold] holding {ident['identifiers']:,} identifiers "
        f"and {ident['source_records']:,} source records; {ident['guard_refusals']:,} identifiers refused by "
        f"guards (identity_guard_audit), {ident['unresolved_records']:,} records unresolved."
    )
    for table, count in ident["unresolved_by_source"].items():
        console.print(f"  {table}: {count:,} records unresolved (identity_unresolved_records)")
    for table, count in ident["field_issues_by_source"].items():
        console.print(f"  {table}: {count:,} fields unusable, made null (person_record_field_issues)")
    audit = report["audit"]
    if audit:
        console.print(
            f"Tests: [green]{audit['tests_passed']} passed[/green], {audit['tests_warned']} warned, "
            f"{len(audit['failures'])} failed; {audit['models_built']} models and seeds built."
        )
    console.print(f"Warehouse: [bold]{report['location']}[/bold]")
    for line in get_warehouse(settings).how_to_query():
        console.print(line, soft_wrap=True)


@main.command()
@click.option("--port", default=3000, show_default=True)
def dev(port: int) -> None:
    """Open the Dagster UI on http://127.0.0.1:PORT (Ctrl-C stops it)."""
    _say_which_sources(_settings())
    _ensure_manifest()
    env = {**os.environ, "DAGSTER_HOME": str(DAGSTER_HOME)}
    command = [
        str(Path(sys.executable).parent / "dagster"),
        "dev",
        "-m",
        "orchestration.definitions",
        "-h",
        "127.0.0.1",
        "-p",
        str(port),
    ]
    console.print(f"Dagster UI: http://127.0.0.1:{port}")

    def restore_sigint() -> None:
        # dagster dev ignores SIGINT inherited as ignored; give it its own session with SIGINT restored.
        os.setsid()
        signal.signal(signal.SIGINT, signal.SIG_DFL)

    process = subprocess.Popen(command, cwd=PROJECT_DIR, env=env, preexec_fn=restore_sigint)
    try:
        sys.exit(process.wait())
    except KeyboardInterrupt:
        process.send_signal(signal.SIGINT)
        sys.exit(process.wait())


@main.group()
def bench() -> None:
    """Benchmarks: they report figures, as JSON on the last line."""


def _definitions_for(settings: Settings) -> Any:
    """The assembled Definitions for `settings`, imported when first asked for (the Dagster stack is
    slow to import, and `tessera --help` needs none of it)."""
    from orchestration.definitions import definitions_for

    return definitions_for(settings)


# Each package owns its commands; this module only assembles them.
for command in (
    generate,
    sources,
    sync,
    profile,
    review,
    identity,
    audiences,
    privacy,
    consent,
    retention,
    masked_file,
):
    main.add_command(command)
for command in (
    bench_build_command(_definitions_for),
    bench_landing_command(_definitions_for),
    bench_increments,
    bench_staging,
    bench_events_mart,
    bench_events,
    bench_spark,
    bench_generate,
    bench_sources,
    bench_identity,
    bench_probabilistic,
    bench_febrl,
    bench_predictions,
    bench_sync,
    bench_audiences,
    bench_lift,
    bench_retention,
):
    bench.add_command(command)


if __name__ == "__main__":
    main()
