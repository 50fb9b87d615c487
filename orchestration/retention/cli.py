"""`tessera retention`: enforce the retention policies (or show what they would remove)."""

from __future__ import annotations

import datetime as dt
import json
import sys

import click
from rich.console import Console
from rich.table import Table

console = Console()


@click.command()
@click.option("--dry-run", is_flag=True, help="Show what would be removed and aggregated; change nothing.")
@click.option(
    "--as-of",
    type=click.DateTime(formats=["%Y-%m-%d", "%Y-%m-%dT%H:%M:%S"]),
    default=None,
    help="Enforce as on this date (UTC) [default: now].",
)
def retention(dry_run: bool, as_of: dt.datetime | None) -> None:
    """Fold raw rows older than their policy's keep_days (retention/retention.yml) into daily aggregates,
    remove them, rebuild and publish; every table's removal is logged in retention_runs."""
    from orchestration.retention.config import RetentionConfigError
    from orchestration.retention.run import run_retention
    from orchestration.settings import Settings
    from orchestration.warehouse.audit import PublishBlocked

    try:
        with console.status("enforcing retention (build copy → remove → dbt build → publish) …"):
            report = run_retention(Settings.from_env(), as_of=as_of, dry_run=dry_run)
    except (RetentionConfigError, PublishBlocked, FileNotFoundError) as exc:
        console.print(f"[red]{exc}[/red]")
        sys.exit(1)
    table = Table(title=f"Retention as of {report.as_of:%Y-%m-%d %H:%M}{' (dry run)' if dry_run else ''}")
    for column in ("raw table", "keep days", "cut-off", "rows", "removed", "aggregate rows", "note"):
        table.add_column(column, justify="right" if column in ("keep days", "rows", "removed") else "left")
    for t in report.tables:
        table.add_row(
            f"{t.source_name}.{t.table_name}",
            str(t.keep_days),
            f"{t.cutoff_at:%Y-%m-%d}" if t.cutoff_at else "-",
            f"{t.rows_before:,}",
            f"{t.rows_removed:,}",
            f"{t.aggregate_rows_written:,}" if not dry_run else "-",
            t.note,
        )
    console.print(table)
    console.print(json.dumps(report.to_dict(), default=str), soft_wrap=True)


@click.command("retention")
@click.option("--rows", default=1_000_000, show_default=True, help="Synthetic page views over two years.")
def bench_retention(rows: int) -> None:
    """Retention: fold and remove 13 months+ of page views, then reapply after a reload."""
    from orchestration.retention.bench import run_retention_benchmark

    with console.status(f"retention benchmark on {rows:,} page views …"):
        figures = run_retention_benchmark(rows=rows)
    console.print(json.dumps(figures), soft_wrap=True)
