"""`tessera privacy …`: access exports, erasure with proof, suppression, and the request ledger."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import click
from rich.console import Console
from rich.table import Table

from orchestration.settings import Settings

console = Console()


def _fail(message: str) -> None:
    console.print(f"[red]{message}[/red]")
    sys.exit(2)


def _print_steps(steps: list[dict]) -> None:
    table = Table(title="Steps", title_justify="left")
    for column in ("step", "target", "status", "detail"):
        table.add_column(column)
    colours = {"done": "green", "failed": "red", "not_supported": "yellow", "skipped": "dim"}
    for step in steps:
        colour = colours.get(step["status"], "white")
        table.add_row(
            step["step"], step["target"], f"[{colour}]{step['status']}[/{colour}]", str(step["detail"])
        )
    console.print(table)


@click.group()
def privacy() -> None:
    """Privacy requests: export (access), erase, suppress, unsuppress; the ledger of requests."""


@privacy.command()
@click.argument("identifier")
@click.option(
    "--out",
    type=click.Path(path_type=Path),
    default=None,
    help="JSON file [default: warehouse/privacy_exports/<request>.json].",
)
@click.option(
    "--include-probable",
    is_flag=True,
    help="Also export the customers of records that probably are this person's but are not linked.",
)
def export(identifier: str, out: Path | None, include_probable: bool) -> None:
    """Write everything held about IDENTIFIER's (TYPE:VALUE) whole identity cluster to one JSON file."""
    from orchestration.privacy.erase import REQUEST_FAILURES
    from orchestration.privacy.export import export as run_export

    try:
        result, path = run_export(Settings.from_env(), identifier, out, include_probable=include_probable)
    except REQUEST_FAILURES + (ValueError,) as exc:
        _fail(str(exc))
        return
    if not result.customers:
        console.print(
            "[yellow]no customer holds this identifier; the export holds only raw rows carrying it[/yellow]"
        )
    _print_probable(result.probable, "export")
    console.print(f"request {result.request_id}: exported to [bold]{path}[/bold]")
    console.print(json.dumps({"request_id": result.request_id, "status": result.status, "file": str(path)}))


def _print_probable(records: list[dict[str, Any]], verb: str) -> None:
    """The records that probably are the person's without being linked, for the operator to decide on."""
    if not records:
        return
    console.print(
        f"[yellow]{len(records)} records probably belong to this person but are not linked:[/yellow]"
    )
    for r in records:
        console.print(
            f"  {r['source_name']}.{r['table_name']} {r['record_id']} (customer {r['customer_id'] or 'none'}, "
            f"p={r['match_probability']:.3f}{', in review queue' if r['in_review_queue'] else ''})"
            + (" [included]" if r["included"] else "")
        )
    if not any(r["included"] for r in records):
        console.print(f"  run again with --include-probable to {verb} them too")


@privacy.command()
@click.argument("identifier")
@click.option(
    "--include-probable",
    is_flag=True,
    help="Also erase the customers of records that probably are this person's but are not linked.",
)
def erase(identifier: str, include_probable: bool) -> None:
    """Erase IDENTIFIER's (TYPE:VALUE) whole identity cluster everywhere, with proof, and suppress it."""
    from orchestration.privacy.erase import REQUEST_FAILURES
    from orchestration.privacy.erase import erase as run_erase

    try:
        with console.status(
            f"erasing {identifier.split(':', 1)[0]}:… (rebuild, publish, destinations, proof)"
        ):
            result = run_erase(Settings.from_env(), identifier, include_probable=include_probable)
    except REQUEST_FAILURES + (ValueError,) as exc:
        _fail(str(exc))
        return
    _print_steps(result.steps)
    _print_probable(result.probable, "erase")
    proof = result.proof or {}
    console.print(
        f"request {result.request_id}: [bold]{result.status}[/bold]; proof: {proof.get('total_hits')} hits in "
        f"{proof.get('tables_scanned')} tables and {proof.get('files_scanned')} files"
    )
    console.print(
        json.dumps(
            {"request_id": result.request_id, "status": result.status, "hits": proof.get("total_hits")}
        )
    )
    if result.status == "failed":
        sys.exit(1)


@privacy.command()
@click.argument("identifier")
def suppress(identifier: str) -> None:
    """Put IDENTIFIER's cluster on the suppression list: their rows are quarantined, not staged."""
    _suppression(identifier, suppress=True)


@privacy.command()
@click.argument("identifier")
def unsuppress(identifier: str) -> None:
    """Lift the suppression that listed IDENTIFIER (with every identifier suppressed alongside it)."""
    _suppression(identifier, suppress=False)


def _suppression(identifier: str, *, suppress: bool) -> None:
    from orchestration.privacy.erase import PrivacyError, set_suppression

    try:
        with console.status("rebuilding with the new suppression list …"):
            result = set_suppression(Settings.from_env(), identifier, suppress=suppress)
    except (ValueError, PrivacyError) as exc:
        _fail(str(exc))
        return
    _print_steps(result.steps)
    console.print(json.dumps({"request_id": result.request_id, "status": result.status}))


@privacy.command()
@click.option("--sync", "only_sync", default=None, help="Only this sync's pending deletes.")
def retry(only_sync: str | None) -> None:
    """Retry destination deletes that failed earlier (they are also retried by every erase and sync run)."""
    from orchestration.privacy.erase import retry as run_retry

    outcomes = run_retry(Settings.from_env(), only_sync=only_sync)
    console.print(json.dumps({"retried": outcomes}, default=str))


@privacy.command()
@click.argument("kind", type=click.Choice(["erase", "access"]))
@click.option("--email", default=None, help="The person's email.")
@click.option("--phone", default=None, help="The person's phone number.")
@click.option("--identifier", default=None, help="Any identifier, as TYPE:VALUE.")
def request(kind: str, email: str | None, phone: str | None, identifier: str | None) -> None:
    """Record an erase or access request for the Dagster jobs, which take only the request id it prints.

    The ledger keeps the identifier as a salted hash, and in clear only until the job carried it out."""
    from orchestration.privacy.cluster import parse_subject
    from orchestration.privacy.files import compact_duckdb
    from orchestration.privacy.ledger import Ledger, ledger_path, publish_ledger

    given = [f"email:{email}" if email else None, f"phone:{phone}" if phone else None, identifier]
    subjects = [g for g in given if g]
    if len(subjects) != 1:
        _fail("give exactly one of --email, --phone or --identifier TYPE:VALUE")
        return
    try:
        subject_type, value = parse_subject(subjects[0])
    except ValueError as exc:
        _fail(str(exc))
        return
    settings = Settings.from_env()
    with Ledger(ledger_path(settings)) as ledger:
        recorded = ledger.record_request(kind, subject_type, value)
    compact_duckdb(ledger_path(settings))
    publish_ledger(settings)
    job = "privacy_erase" if kind == "erase" else "privacy_export"
    op_name = "erase_person" if kind == "erase" else "export_person"
    console.print(
        f"request {recorded.request_id} recorded; run the Dagster job [bold]{job}[/bold] with "
        f"ops: {{{op_name}: {{config: {{request_id: {recorded.request_id}}}}}}}"
    )
    click.echo(json.dumps({"request_id": recorded.request_id, "kind": kind, "job": job}))


@privacy.command()
@click.option("--limit", default=50, show_default=True)
def requests(limit: int) -> None:
    """List the requests in the ledger, newest first."""
    from orchestration.privacy.ledger import Ledger, ledger_path

    with Ledger(ledger_path(Settings.from_env())) as ledger:
        rows = ledger.requests(limit)
    table = Table(title="privacy_requests")
    for column in ("request_id", "kind", "subject_type", "received_at", "status", "completed_at"):
        table.add_column(column)
    for row in rows:
        table.add_row(
            *(
                str(row[c] or "")
                for c in ("request_id", "kind", "subject_type", "received_at", "status", "completed_at")
            )
        )
    console.print(table)


@privacy.command()
@click.argument("request_id")
@click.option("--verify", "identifier", default=None, help="TYPE:VALUE: check that the request was about it.")
def status(request_id: str, identifier: str | None) -> None:
    """One request: its steps and proof; with --verify, whether it concerned TYPE:VALUE."""
    from orchestration.privacy.cluster import parse_subject
    from orchestration.privacy.ledger import Ledger, ledger_path
    from orchestration.privacy.proof import verify

    with Ledger(ledger_path(Settings.from_env())) as ledger:
        request = ledger.request(request_id)
        if request is None:
            _fail(f"no request {request_id}")
            return
        steps = ledger.steps(request_id)
    _print_steps(steps)
    proof = request.get("proof") or {}
    summary = {
        k: request[k] for k in ("request_id", "kind", "subject_type", "status", "received_at", "completed_at")
    }
    summary["proof_hits"] = proof.get("total_hits")
    summary["tables_scanned"] = proof.get("tables_scanned")
    if identifier:
        try:
            summary["verified"] = verify(request, *parse_subject(identifier))
        except ValueError as exc:
            _fail(str(exc))
    console.print(json.dumps(summary, default=str))
