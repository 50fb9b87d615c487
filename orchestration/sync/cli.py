"""`tessera sync` and `tessera bench sync`."""

from __future__ import annotations

import json
import sys

import click
from rich.console import Console
from rich.table import Table

from orchestration.privacy.erase import retry_pending_for_sync
from orchestration.settings import Settings

console = Console()


@click.command()
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

    settings = Settings.from_env()
    if name is None:
        table = Table(title="Syncs (syncs/syncs.yml)")
        for column in ("name", "source", "destination", "mode", "consent", "schedule"):
            table.add_column(column)
        for c in project_syncs(settings):
            table.add_row(
                c.name, c.source.describe, c.destination.type, c.mode, str(c.consent_purpose), c.schedule
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
        result = run_project_sync(
            settings,
            config,
            force=force,
            approve_removals=approve_removals,
            before_send=retry_pending_for_sync,
        )
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


@click.command("sync")
@click.option("--rows", default=1_000_000, show_default=True, help="Audience size for the diff benchmark.")
@click.option("--window", default=30.0, show_default=True, help="Seconds of the throughput measurement.")
@click.option(
    "--diff-warehouses",
    is_flag=True,
    help="Only the diff (first run and 1% churn), on DuckDB and on the Postgres server of TESSERA_PG_*.",
)
def bench_sync(rows: int, window: float, diff_warehouses: bool) -> None:
    """Sync engine: diff time, requests of an unchanged re-run, throughput, loss and duplicates under faults."""
    from orchestration.sync.bench import bench_diff_warehouses, run_benchmark

    with console.status("sync benchmark …"):
        if diff_warehouses:
            connect = dict(Settings.from_env().postgres.connect_kwargs())
            figures = bench_diff_warehouses(rows, connect)
        else:
            figures = run_benchmark(rows=rows, window_seconds=window)
    console.print(json.dumps(figures, default=str), soft_wrap=True)
