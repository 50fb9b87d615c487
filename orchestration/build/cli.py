"""`tessera bench build` and `tessera bench staging`: the build's own benchmarks."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import click
from rich.console import Console

from orchestration.settings import Settings

console = Console()


def bench_build_command(definitions_for: Callable[[Settings], Any]) -> click.Command:
    """`tessera bench build`; `--dagster` runs the Dagster job of `definitions_for(settings)`, which the
    assembly (orchestration/cli.py) passes in: no package imports the Definitions."""

    @click.command("build")
    @click.option("--customers", default=100_000, show_default=True)
    @click.option("--seed", default=7, show_default=True)
    @click.option(
        "--growth", default=0.01, show_default=True, help="Share of person records added for the rebuild."
    )
    @click.option("--dagster", is_flag=True, help="Also run the rebuild as the Dagster job, and compare.")
    @click.option(
        "--workdir",
        type=click.Path(path_type=Path),
        default=None,
        help="Keep the files here [default: temporary].",
    )
    def bench_build(customers: int, seed: int, growth: float, dagster: bool, workdir: Path | None) -> None:
        """Time and peak memory per layer and for the slowest models: a first build, and a rebuild after
        GROWTH more person records (optionally through Dagster too)."""
        import shutil
        import tempfile

        from orchestration.build.bench import run_build_benchmark

        folder = workdir or Path(tempfile.mkdtemp(prefix="tessera-bench-build-"))
        try:
            with console.status(f"build benchmark at {customers:,} customers …"):
                figures = run_build_benchmark(
                    customers, seed, folder, growth, dagster=definitions_for if dagster else None
                )
        finally:
            if workdir is None:
                shutil.rmtree(folder, ignore_errors=True)
        console.print(json.dumps(figures), soft_wrap=True)

    return bench_build


@click.command("staging")
@click.option("--customers", default=100_000, show_default=True)
@click.option("--seed", default=7, show_default=True)
@click.option("--repeat", default=3, show_default=True, help="Runs of each path; the figures are medians.")
@click.option(
    "--workdir",
    type=click.Path(path_type=Path),
    default=None,
    help="Keep the files here [default: temporary].",
)
def bench_staging(customers: int, seed: int, repeat: int, workdir: Path | None) -> None:
    """The events' staging of one generated world through the raw contract (load, then stage) and through
    the segment preset (Segment's tables read in place), alternating in one run."""
    import shutil
    import tempfile

    from orchestration.build.staging_bench import run_staging_benchmark

    folder = workdir or Path(tempfile.mkdtemp(prefix="tessera-bench-staging-"))
    try:
        with console.status(f"staging benchmark at {customers:,} customers …"):
            figures = run_staging_benchmark(customers, seed, folder, repeat)
    finally:
        if workdir is None:
            shutil.rmtree(folder, ignore_errors=True)
    console.print(json.dumps(figures), soft_wrap=True)
