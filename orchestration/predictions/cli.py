"""`tessera bench predictions`."""

from __future__ import annotations

import json
from pathlib import Path

import click
from rich.console import Console

console = Console()


@click.command("predictions")
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
