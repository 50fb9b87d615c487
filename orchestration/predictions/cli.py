"""`tessera bench predictions`."""

from __future__ import annotations

import json
from pathlib import Path

import click
from rich.console import Console

from orchestration.build.bench_options import bench_folder, workdir_option

console = Console()


@click.command("predictions")
@click.option("--customers", default=100_000, show_default=True)
@click.option("--seed", default=42, show_default=True)
@workdir_option
def bench_predictions(customers: int, seed: int, workdir: Path | None) -> None:
    """Prediction quality (AUC, lift, calibration) and the build time of traits, predictions and audiences."""
    from orchestration.predictions.bench import run_predictions_benchmark

    with (
        bench_folder(workdir, "predictions") as folder,
        console.status(f"predictions benchmark at {customers:,} customers (one full build) …"),
    ):
        figures = run_predictions_benchmark(customers, seed, folder)
    console.print(json.dumps(figures, default=str), soft_wrap=True)
