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

import click
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from orchestration.settings import PROJECT_DIR, Settings

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


@main.command()
@click.option("--customers", default=10_000, show_default=True, help="How many true persons to generate.")
@click.option("--seed", default=42, show_default=True, help="Random seed; the same seed gives the same data.")
@click.option("--out", type=click.Path(path_type=Path), default=None, help="Output folder [default: data/].")
def generate(customers: int, seed: int, out: Path | None) -> None:
    """Write demo raw tables for eight source systems, plus the planted truth."""
    from orchestration.generate import generate as run_generate

    out = out or _settings().data_dir
    with console.status(f"generating {customers:,} customers into {out} …"):
        summary = run_generate(customers=customers, seed=seed, out=out)
    table = Table(title=f"Generated {summary['persons']:,} persons in {summary['seconds']:.1f} s")
    table.add_column("raw table")
    table.add_column("rows", justify="right")
    for name, rows in summary["tables"].items():
        table.add_row(name, f"{rows:,}")
    console.print(table)


def _ensure_manifest() -> None:
    from orchestration.build.project import prepare_manifest

    prepare_manifest(_settings())


@main.command()
@click.option("--customers", default=10_000, show_default=True, help="Demo size when data must be generated.")
@click.option("--seed", default=42, show_default=True)
@click.option("--regenerate", is_flag=True, help="Generate the demo data again even if it exists.")
def run(customers: int, seed: int, regenerate: bool) -> None:
    """Run the whole pipeline (the Dagster job build_everything) end to end, then print a summary."""
    settings = _settings()
    marker = settings.data_dir / "generated.json"
    wanted = {"customers": customers, "seed": seed}
    if regenerate or not marker.exists() or json.loads(marker.read_text()) != wanted:
        from orchestration.generate import generate as run_generate

        with console.status(f"generating demo data: {customers:,} customers (seed {seed}) …"):
            run_generate(customers=customers, seed=seed, out=settings.data_dir)
        marker.write_text(json.dumps(wanted))
    else:
        console.print(f"demo data: reusing {settings.data_dir} ({customers:,} customers, seed {seed})")

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
    ):
        result = (
            defs()
            .resolve_job_def("build_everything")
            .execute_in_process(
                instance=DagsterInstance.get(),
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
    console.print(f"[green]Run {result.run_id[:8]} succeeded in {seconds:.0f} s.[/green]")
    _print_summary(settings)
    from orchestration.definitions import syncs_enabled

    if not syncs_enabled(settings):
        console.print("syncs: not run (the sync engine reads the published DuckDB warehouse)")
        return
    with console.status("running the syncs (Dagster job run_syncs) …"):
        syncs = (
            defs()
            .resolve_job_def("run_syncs")
            .execute_in_process(
                instance=DagsterInstance.get(),
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


def _person_sources_ok(settings: Settings) -> bool:
    """Check the person-source declarations before anything runs; print why not."""
    from orchestration.person_sources import PersonSourceConfigError, PersonSourceLoadError
    from orchestration.person_sources.check import check_sources

    try:
        check_sources(settings)
    except (PersonSourceConfigError, PersonSourceLoadError) as exc:
        console.print(f"[red]person sources: {exc}[/red]", soft_wrap=True)
        return False
    return True


def _shown_path(text: str) -> str:
    try:
        return str(Path(text).relative_to(Path.cwd()))
    except ValueError:
        return text


@main.command(name="sources")
def sources_command() -> None:
    """Check the person sources declared in sources/person_sources.yml (docs/person_sources.md)."""
    from orchestration.person_sources.check import check_sources
    from orchestration.person_sources.config import config_paths

    settings = _settings()
    if not _person_sources_ok(settings):
        sys.exit(2)
    files = ", ".join(_shown_path(str(p)) for p in config_paths(settings) if p.exists())
    table = Table(title=f"Person sources ({files or 'none declared'})")
    for column in ("source", "reads", "record id", "fields", "external ids", "priority"):
        table.add_column(column)
    for row in check_sources(settings):
        reads = _shown_path(row["reads"]) + ("" if row["checked"] else " (not checked: no warehouse yet)")
        table.add_row(
            row["source"], reads, row["record_id"], row["fields"], row["external_ids"], str(row["priority"])
        )
    console.print(table)


@main.command()
def summary() -> None:
    """Print what the published warehouse holds: sources, staged rows, quarantine, tests."""
    _print_summary(_settings())


def _print_summary(settings: Settings) -> None:
    from orchestration.build.reporting import warehouse_summary
    from orchestration.warehouse.registry import get_warehouse

    report = warehouse_summary(settings)
    sources = Table(title="Sources loaded → staged (quarantined)")
    for column in ("raw table", "loaded", "staged", "quarantined"):
        sources.add_column(column, justify="left" if column == "raw table" else "right")
    for row in report["tables"]:
        sources.add_row(row["table"], f"{row['loaded']:,}", f"{row['staged']:,}", f"{row['quarantined']:,}")
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


@main.command()
@click.argument("name", required=False)
@click.option("--dry-run", is_flag=True, help="Show what would be sent: counts and samples; send nothing.")
@click.option(
    "--force", is_flag=True, help="Run even if more than the allowed share of rows would be removed."
)
@click.option(
    "--approve-removals",
    is_flag=True,
    help="Send the removals a run held after an upstream change (schema drift, stale source, id changes).",
)
def sync(name: str | None, dry_run: bool, force: bool, approve_removals: bool) -> None:
    """Run one sync from syncs/syncs.yml (or list them without NAME)."""
    from orchestration.sync.project import (
        SyncBlocked,
        find_sync,
        preview_project_sync,
        project_syncs,
        run_project_sync,
    )

    settings = _settings()
    if name is None:
        table = Table(title="Syncs (syncs/syncs.yml)")
        for column in ("name", "model", "destination", "mode", "consent", "schedule"):
            table.add_column(column)
        for c in project_syncs(settings):
            table.add_row(
                c.name, c.source.model, c.destination.type, c.mode, str(c.consent_purpose), c.schedule
            )
        console.print(table)
        return
    try:
        config = find_sync(settings, name)
        if dry_run:
            report = preview_project_sync(settings, config)
            console.print_json(
                json.dumps({"sync": name, **report.counts(), "would_abort": report.would_abort})
            )
            for kind, rows in report.samples.items():
                if rows:
                    console.print(f"[bold]{kind}[/bold] (sample)")
                    for row in rows:
                        console.print(f"  {json.dumps(row, default=str)}", soft_wrap=True)
            return
        result = run_project_sync(settings, config, force=force, approve_removals=approve_removals)
    except (KeyError, SyncBlocked) as exc:
        console.print(f"[red]{exc}[/red]")
        sys.exit(2)
    console.print_json(
        json.dumps(
            {
                "sync": name,
                "status": result.status,
                **result.counts(),
                "error": result.error,
                "hold_reason": result.hold_reason,
            }
        )
    )
    if result.status == "held":
        console.print(f"[yellow]removals held: {result.hold_reason}[/yellow]", soft_wrap=True)
        console.print(f"release them with: tessera sync {name} --approve-removals")
    if not result.ok:
        sys.exit(1)


@main.group()
def bench() -> None:
    """Benchmarks: they report figures, as JSON on the last line."""


@bench.command("generate")
@click.option("--customers", default=1_000_000, show_default=True)
@click.option("--seed", default=7, show_default=True)
@click.option(
    "--out", type=click.Path(path_type=Path), default=None, help="Folder [default: a temporary one]."
)
def bench_generate(customers: int, seed: int, out: Path | None) -> None:
    """Time the demo generator."""
    import resource
    import shutil
    import tempfile

    from orchestration.generate import generate as run_generate

    folder = out or Path(tempfile.mkdtemp(prefix="tessera-bench-"))
    try:
        summary = run_generate(customers=customers, seed=seed, out=folder)
    finally:
        if out is None:
            shutil.rmtree(folder, ignore_errors=True)
    figures = {
        "benchmark": "generate",
        "customers": customers,
        "cores": os.cpu_count(),
        "seconds": round(summary["seconds"], 2),
        "rows_total": sum(summary["tables"].values()),
        "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024),
        "tables": summary["tables"],
    }
    console.print(json.dumps(figures), soft_wrap=True)


@bench.command("sources")
@click.option("--rows", default=1_000_000, show_default=True, help="Rows in the synthetic CSV person source.")
def bench_sources_command(rows: int) -> None:
    """Land a declared CSV person source and build its staging models; JSON on the last line."""
    import resource
    import shutil
    import tempfile

    from orchestration.person_sources.bench import bench_sources

    folder = Path(tempfile.mkdtemp(prefix="tessera-bench-sources-"))
    try:
        with console.status(f"landing and staging a {rows:,}-row CSV person source …"):
            figures = bench_sources(rows, folder)
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    figures = {
        "benchmark": "sources",
        "cores": os.cpu_count(),
        **figures,
        "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024),
    }
    console.print(json.dumps(figures), soft_wrap=True)


@bench.command("identity")
@click.option("--customers", default=100_000, show_default=True)
@click.option("--seed", default=7, show_default=True)
@click.option(
    "--growth", default=0.01, show_default=True, help="Share of records added for the stability rebuild."
)
@click.option(
    "--workdir",
    type=click.Path(path_type=Path),
    default=None,
    help="Keep the files here [default: temporary].",
)
def bench_identity(customers: int, seed: int, growth: float, workdir: Path | None) -> None:
    """Identity accuracy against the planted truth, stitching time against scipy, and id stability."""
    import shutil
    import tempfile

    from orchestration.identity.bench import run_identity_benchmark

    folder = workdir or Path(tempfile.mkdtemp(prefix="tessera-bench-identity-"))
    try:
        with console.status(f"identity benchmark at {customers:,} customers (two full builds) …"):
            figures = run_identity_benchmark(customers, seed, folder, growth)
    finally:
        if workdir is None:
            shutil.rmtree(folder, ignore_errors=True)
    console.print(json.dumps(figures), soft_wrap=True)


@bench.command("predictions")
@click.option("--customers", default=100_000, show_default=True)
@click.option("--seed", default=42, show_default=True)
@click.option(
    "--workdir",
    type=click.Path(path_type=Path),
    default=None,
    help="Keep the files here [default: temporary].",
)
def bench_predictions(customers: int, seed: int, workdir: Path | None) -> None:
    """Prediction quality (AUC, lift, calibration) and the build time of traits, predictions and audiences."""
    import shutil
    import tempfile

    from orchestration.predictions.bench import run_predictions_benchmark

    folder = workdir or Path(tempfile.mkdtemp(prefix="tessera-bench-predictions-"))
    try:
        with console.status(f"predictions benchmark at {customers:,} customers (one full build) …"):
            figures = run_predictions_benchmark(customers, seed, folder)
    finally:
        if workdir is None:
            shutil.rmtree(folder, ignore_errors=True)
    console.print(json.dumps(figures, default=str), soft_wrap=True)


@bench.command("sync")
@click.option("--rows", default=1_000_000, show_default=True, help="Audience size for the diff benchmark.")
@click.option("--window", default=30.0, show_default=True, help="Seconds of the throughput measurement.")
def bench_sync(rows: int, window: float) -> None:
    """Sync engine: diff time, requests of an unchanged re-run, throughput, loss and duplicates under faults."""
    from orchestration.sync.bench import run_benchmark

    with console.status("sync benchmark …"):
        figures = run_benchmark(rows=rows, window_seconds=window)
    console.print(json.dumps(figures, default=str), soft_wrap=True)


@main.command()
@click.argument("identifier")
@click.option(
    "--events", "event_limit", default=10, show_default=True, help="How many recent events to show."
)
def profile(identifier: str, event_limit: int) -> None:
    """One customer's 360° view, found by TYPE:VALUE (e.g. email:ann@example.com, phone:+447700900123)."""
    from orchestration.identity.profile import CustomerNotFound, render_profile

    try:
        render_profile(_settings(), identifier, console, event_limit=event_limit)
    except CustomerNotFound as exc:
        console.print(f"[red]{exc}[/red]")
        sys.exit(1)


# Audiences (orchestration/audiences/): `tessera audiences …` and `tessera bench audiences`.
from orchestration.audiences.cli import audiences as _audiences  # noqa: E402
from orchestration.audiences.cli import bench_audiences as _bench_audiences  # noqa: E402

main.add_command(_audiences)
bench.add_command(_bench_audiences)

# Privacy requests (orchestration/privacy/): `tessera privacy …`.
from orchestration.privacy.cli import privacy  # noqa: E402

main.add_command(privacy)

# Privacy data (consent evidence, retention): their commands live with their modules.
from orchestration.consent.cli import consent as _consent_commands  # noqa: E402
from orchestration.privacy.masking_cli import masked_file as _masked_file_command  # noqa: E402
from orchestration.retention.cli import retention as _retention_command  # noqa: E402

main.add_command(_consent_commands)
main.add_command(_retention_command)
main.add_command(_masked_file_command)


@bench.command("retention")
@click.option("--rows", default=1_000_000, show_default=True, help="Synthetic page views over two years.")
def bench_retention(rows: int) -> None:
    """Retention: fold and remove 13 months+ of page views, then reapply after a reload."""
    from orchestration.retention.bench import run_retention_benchmark

    with console.status(f"retention benchmark on {rows:,} page views …"):
        figures = run_retention_benchmark(rows=rows)
    console.print(json.dumps(figures), soft_wrap=True)


@bench.command("probabilistic")
@click.option("--records", default=1_000_000, show_default=True, help="Person records to match.")
@click.option("--seed", default=7, show_default=True)
@click.option(
    "--workdir",
    type=click.Path(path_type=Path),
    default=None,
    help="Keep the files here [default: temporary].",
)
def bench_probabilistic(records: int, seed: int, workdir: Path | None) -> None:
    """Probabilistic matching alone: training and prediction seconds and peak memory on N person records."""
    import shutil
    import tempfile

    from orchestration.identity.matching_bench import run_probabilistic_benchmark

    folder = workdir or Path(tempfile.mkdtemp(prefix="tessera-bench-probabilistic-"))
    try:
        with console.status(f"probabilistic matching benchmark on {records:,} person records …"):
            figures = run_probabilistic_benchmark(records, seed, folder)
    finally:
        if workdir is None:
            shutil.rmtree(folder, ignore_errors=True)
    console.print(json.dumps(figures), soft_wrap=True)


@main.group()
def review() -> None:
    """The identity review queue: probable matches a person decides (docs/identity.md)."""


def _review_call(function, *args, **kwargs):  # type: ignore[no-untyped-def]
    from orchestration.identity.review import ReviewError

    try:
        return function(*args, **kwargs)
    except ReviewError as exc:
        console.print(f"[red]{exc}[/red]")
        sys.exit(1)


@review.command("list")
@click.option("--limit", default=20, show_default=True)
def review_list(limit: int) -> None:
    """The pairs waiting for a decision, most probable first."""
    from orchestration.identity.review import pending_decisions, review_queue

    settings = _settings()
    rows = _review_call(review_queue, settings, limit)
    table = Table(title=f"identity_review_queue (first {limit})")
    for column in ("pair", "probability", "record 1", "record 2", "why"):
        table.add_column(column)
    for row in rows:
        table.add_row(
            row["pair_id"],
            f"{row['match_probability']:.4f}",
            "\n".join(str(row[k]) for k in ("name_l", "email_l", "phone_l", "address_l") if row[k]),
            "\n".join(str(row[k]) for k in ("name_r", "email_r", "phone_r", "address_r") if row[k]),
            row["review_reason"],
        )
    console.print(table)
    pending = _review_call(pending_decisions, settings)
    if pending:
        console.print(
            f"{pending} decision(s) recorded since the last published build; the next build applies them."
        )


def _decide(pair_id: str, decision: str, by: str | None, note: str | None) -> None:
    from orchestration.identity.review import record_decision

    made = _review_call(record_decision, _settings(), pair_id, decision, by, note)
    console.print(
        f"{decision}ed {made.pair_id} ({made.unique_id_l} ~ {made.unique_id_r}) as {made.decided_by}; "
        "the next build applies it, and every build after keeps it."
    )


@review.command("accept")
@click.argument("pair_id")
@click.option("--by", default=None, help="Who decides [default: the login name].")
@click.option("--note", default=None)
def review_accept(pair_id: str, by: str | None, note: str | None) -> None:
    """The two records are one person: they merge on every later build."""
    _decide(pair_id, "accept", by, note)


@review.command("reject")
@click.argument("pair_id")
@click.option("--by", default=None, help="Who decides [default: the login name].")
@click.option("--note", default=None)
def review_reject(pair_id: str, by: str | None, note: str | None) -> None:
    """The two records are different people: this link never merges them again."""
    _decide(pair_id, "reject", by, note)


@review.command("explain")
@click.argument("pair_id")
@click.option(
    "--html",
    "html_path",
    type=click.Path(path_type=Path),
    default=None,
    help="Write Splink's waterfall chart here.",
)
def review_explain(pair_id: str, html_path: Path | None) -> None:
    """Why a pair scored what it did: the match weight of each comparison (and the waterfall chart)."""
    from orchestration.identity.review import explain, write_waterfall

    settings = _settings()
    figures = _review_call(explain, settings, pair_id)
    table = Table(
        title=f"{figures['pair_id']}: {figures['unique_id_l']} ~ {figures['unique_id_r']} "
        f"({figures['link_status']}, p = {figures['match_probability'] or 0:.6f})"
    )
    table.add_column("comparison")
    table.add_column("level")
    table.add_column("match weight", justify="right")
    for row in figures["weights"]:
        table.add_row(row["comparison"], str(row["level"]), f"{row['match_weight']:+.2f}")
    table.add_row("total", "", f"{figures['match_weight'] or 0:+.2f}")
    console.print(table)
    if html_path is not None:
        written = _review_call(write_waterfall, settings, pair_id, html_path)
        console.print(f"waterfall chart written to {written}")


if __name__ == "__main__":
    main()
