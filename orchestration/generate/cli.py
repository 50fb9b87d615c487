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
def generate(customers: int, seed: int, out: Path | None) -> None:
    """Write demo raw tables for eight source systems, plus the planted truth."""
    from orchestration.generate import generate as run_generate

    out = out or Settings.from_env().data_dir
    with console.status(f"generating {customers:,} customers into {out} …"):
        summary = run_generate(customers=customers, seed=seed, out=out)
    table = Table(title=f"Generated {summary['persons']:,} persons in {summary['seconds']:.1f} s")
    table.add_column("raw table")
    table.add_column("rows", justify="right")
    for name, rows in summary["tables"].items():
        table.add_row(name, f"{rows:,}")
    console.print(table)


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
