"""`tessera consent …`: the consent-at-send audit on the command line."""

from __future__ import annotations

import csv
import json
import sys
from pathlib import Path

import click
from rich.console import Console
from rich.table import Table

console = Console()


@click.group()
def consent() -> None:
    """Consent evidence: was consent valid when each record was sent?"""


@consent.command("audit")
@click.option("--sync", "sync_name", default=None, help="Only this sync.")
@click.option(
    "--out",
    type=click.Path(path_type=Path),
    default=None,
    help="Write every audited send to this file (.csv or .json).",
)
@click.option("--show", default=10, show_default=True, help="How many sends without valid consent to print.")
@click.option("--fail-on-invalid", is_flag=True, help="Exit 1 when any send lacked valid consent.")
def audit(sync_name: str | None, out: Path | None, show: int, fail_on_invalid: bool) -> None:
    """Each record every sync delivered, the consent row that justified it, and whether that row was a
    grant for the sync's purpose valid at the moment of sending (docs/privacy_data.md)."""
    from orchestration.consent.audit import COLUMNS, ConsentAuditError, audit_project
    from orchestration.settings import Settings
    from orchestration.warehouse.registry import get_warehouse

    settings = Settings.from_env()
    if not get_warehouse(settings).runs_syncs:
        console.print("[red]this warehouse has no sync engine, so there is no sync record log[/red]")
        sys.exit(2)
    try:
        result = audit_project(settings, sync_name)
    except ConsentAuditError as exc:
        console.print(f"[red]{exc}[/red]")
        sys.exit(2)
    table = Table(title=f"Consent at send: {result.sends:,} delivered records")
    for column in ("sync", "sends", "valid", "without valid consent"):
        table.add_column(column, justify="left" if column == "sync" else "right")
    for entry in result.per_sync():
        table.add_row(
            entry["sync_name"],
            f"{entry['sends']:,}",
            f"{entry['valid']:,}",
            f"{entry['without_valid_consent']:,}",
        )
    console.print(table)
    invalid = result.invalid
    for row in invalid[:show]:
        console.print(
            f"[red]{row['sent_at']} {row['sync_name']} {row['record_key']}[/red]: {row['verdict']} "
            f"(basis {row['consent_basis']})",
            soft_wrap=True,
        )
    if out is not None:
        out.parent.mkdir(parents=True, exist_ok=True)
        if out.suffix == ".json":
            out.write_text(json.dumps(result.rows, default=str, indent=1))
        else:
            with out.open("w", newline="") as handle:
                writer = csv.DictWriter(handle, fieldnames=list(COLUMNS))
                writer.writeheader()
                writer.writerows(result.rows)
        console.print(f"wrote {result.sends:,} rows to {out}")
    summary = {"sends": result.sends, "without_valid_consent": len(invalid), "verdicts": result.verdicts()}
    console.print(json.dumps(summary), soft_wrap=True)
    if fail_on_invalid and invalid:
        sys.exit(1)
