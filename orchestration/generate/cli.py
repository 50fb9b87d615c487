"""`tessera generate` and `tessera bench generate`: the demo data."""

from __future__ import annotations

import json
import os
from pathlib import Path

import click
from rich.console import Console
from rich.table import Table

from orchestration.settings import Settings

console = Console()


@click.command()
@click.option("--customers", default=10_000, show_default=True, help="How many true persons to generate.")
@click.option("--seed", default=42, show_default=True, help="Random seed; the same seed gives the same data.")
@click.option("--out", type=click.Path(path_type=Path), default=None, help="Output folder [default: data/].")
@click.option(
    "--campaign-response",
    is_flag=True,
    help="Instead of a new world: append the audiences' response to the last send (read from the published "
    "warehouse) to the data folder's raw orders, with a planted lift (orchestration/generate/campaign.py).",
)
def generate(customers: int, seed: int, out: Path | None, campaign_response: bool) -> None:
    """Write demo raw tables for eight source systems, plus the planted truth."""
    from orchestration.generate import generate as run_generate

    if campaign_response:
        _campaign_response(seed)
        return
    out = out or Settings.from_env().data_dir
    with console.status(f"generating {customers:,} customers into {out} …"):
        summary = run_generate(customers=customers, seed=seed, out=out)
    table = Table(title=f"Generated {summary['persons']:,} persons in {summary['seconds']:.1f} s")
    table.add_column("raw table")
    table.add_column("rows", justify="right")
    for name, rows in summary["tables"].items():
        table.add_row(name, f"{rows:,}")
    console.print(table)


def _campaign_response(seed: int) -> None:
    from orchestration.generate.campaign import CampaignResponseError, plant_campaign_response

    settings = Settings.from_env()
    try:
        truth = plant_campaign_response(settings, seed=seed)
    except CampaignResponseError as exc:
        raise click.ClickException(str(exc)) from None
    table = Table(
        title=f"Campaign response: {truth.orders_planted:,} shop orders and {truth.store_visits_planted:,} "
        "store visits appended to the raw data"
    )
    for column in ("audience", "planted lift", "treatment", "control", "global holdout", "responded (t / c)"):
        table.add_column(column, justify="left" if column == "audience" else "right")
    for audience, arms in truth.arms.items():
        planted = truth.effect if audience == truth.effect_audience else truth.null_effect
        table.add_row(
            audience,
            f"{100 * planted:+.1f} pts",
            f"{arms['treatment']:,}",
            f"{arms['control']:,}",
            f"{arms['global_holdout']:,}",
            f"{arms['treatment_responded']:,} / {arms['control_responded']:,}",
        )
    console.print(table)
    console.print(
        f"baseline {100 * truth.baseline:.1f}% ordered within {truth.within_days} days of the send ({truth.sent_at}); "
        f"{truth.unreachable:,} members had no identifier an order can carry (no response in any arm). "
        f"Truth: {settings.data_dir / 'truth' / 'campaign_response.json'}",
        soft_wrap=True,
    )


@click.command("generate")
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
