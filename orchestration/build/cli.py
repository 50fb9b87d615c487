"""`tessera bench build`, `increments`, `staging`, `landing`, `events`, `events-mart` and `spark`: the build's own
benchmarks."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import click
from rich.console import Console

from orchestration.build.bench_options import bench_folder, workdir_option
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
    @workdir_option
    def bench_build(customers: int, seed: int, growth: float, dagster: bool, workdir: Path | None) -> None:
        """Time and peak memory per layer and for the slowest models: a first build, and a rebuild after
        GROWTH more person records (optionally through Dagster too)."""
        from orchestration.build.bench import run_build_benchmark

        with (
            bench_folder(workdir, "build") as folder,
            console.status(f"build benchmark at {customers:,} customers …"),
        ):
            figures = run_build_benchmark(
                customers, seed, folder, growth, dagster=definitions_for if dagster else None
            )
        console.print(json.dumps(figures), soft_wrap=True)

    return bench_build


def bench_landing_command(definitions_for: Callable[[Settings], Any]) -> click.Command:
    """`tessera bench landing`: the Dagster job of `definitions_for(settings)` is the build the landing
    sensor asks for."""

    @click.command("landing")
    @click.option("--customers", default=100_000, show_default=True)
    @click.option("--seed", default=7, show_default=True)
    @workdir_option
    def bench_landing(customers: int, seed: int, workdir: Path | None) -> None:
        """From a file landing to its event in the published `events`: a world built and published, then
        a new delivery of the track calls, the landing check, and the Dagster build it asks for."""
        from orchestration.build.bench import run_landing_benchmark

        with (
            bench_folder(workdir, "landing") as folder,
            console.status(f"landing benchmark at {customers:,} customers …"),
        ):
            figures = run_landing_benchmark(customers, seed, folder, definitions_for)
        console.print(json.dumps(figures), soft_wrap=True)

    return bench_landing


@click.command("increments")
@click.option("--customers", default=200, show_default=True)
@click.option("--seed", default=7, show_default=True)
@click.option(
    "--cut",
    "cuts",
    multiple=True,
    type=float,
    default=(0.8, 0.9),
    show_default=True,
    help="Share of the world's dated rows in each increment but the last (which has all of them).",
)
@workdir_option
def bench_increments(customers: int, seed: int, cuts: tuple[float, ...], workdir: Path | None) -> None:
    """The demo world built in increments (its raw files cut by time), then a full refresh of the same
    warehouse: the time of each build, and every published table compared between the two."""
    from orchestration.build.increments import run_increments_benchmark

    with (
        bench_folder(workdir, "increments") as folder,
        console.status(f"increments benchmark at {customers:,} customers …"),
    ):
        figures = run_increments_benchmark(customers, seed, folder, sorted(cuts))
    console.print(json.dumps(figures), soft_wrap=True)


@click.command("staging")
@click.option("--customers", default=100_000, show_default=True)
@click.option("--seed", default=7, show_default=True)
@click.option("--repeat", default=3, show_default=True, help="Runs of each path; the figures are medians.")
@click.option(
    "--growth", default=0.01, show_default=True, help="Share of calls landed again for the incremental runs."
)
@workdir_option
def bench_staging(customers: int, seed: int, repeat: int, growth: float, workdir: Path | None) -> None:
    """The events' staging of one generated world through the raw contract (load, then stage) and through
    the segment preset (Segment's tables read in place), alternating in one run; then `growth` more calls
    staged incrementally and restaged whole, alternating."""
    from orchestration.build.staging_bench import run_staging_benchmark

    with (
        bench_folder(workdir, "staging") as folder,
        console.status(f"staging benchmark at {customers:,} customers …"),
    ):
        figures = run_staging_benchmark(customers, seed, folder, repeat, growth)
    console.print(json.dumps(figures), soft_wrap=True)


@click.command("events-mart")
@click.option("--customers", default=10_000, show_default=True)
@click.option("--seed", default=7, show_default=True)
@click.option("--repeat", default=3, show_default=True, help="Runs of each way; the figures are medians.")
@click.option(
    "--growth", default=0.01, show_default=True, help="Share of calls landed again for the builds timed."
)
@workdir_option
def bench_events_mart(customers: int, seed: int, repeat: int, growth: float, workdir: Path | None) -> None:
    """The incremental events mart on a world whose events are Segment's tables: `growth` more calls taken in
    incrementally and placed whole, alternating in one run."""
    from orchestration.build.events_mart_bench import run_events_mart_benchmark

    with (
        bench_folder(workdir, "events-mart") as folder,
        console.status(f"events mart benchmark at {customers:,} customers …"),
    ):
        figures = run_events_mart_benchmark(customers, seed, folder, repeat, growth)
    console.print(json.dumps(figures), soft_wrap=True)


@click.command("events")
@click.option("--assets", default=100, show_default=True, help="Assets in the job, a chain.")
@click.option("--checks", default=3, show_default=True, help="Asset checks per asset (dbt tests).")
@click.option("--repeat", default=3, show_default=True, help="Runs on each storage; the figures are medians.")
@workdir_option
def bench_events(assets: int, checks: int, repeat: int, workdir: Path | None) -> None:
    """Dagster's event log: a job shaped like the build (assets with asset checks, no dbt) on Dagster's
    SQLite storage and on the pooled one, alternating in one run."""
    from orchestration.build.events_bench import run_events_benchmark

    with bench_folder(workdir, "events") as folder, console.status("event log benchmark …"):
        figures = run_events_benchmark(folder, assets, checks, repeat)
    console.print(json.dumps(figures), soft_wrap=True)


@click.command("spark")
@click.option("--customers", default=200, show_default=True)
@click.option("--seed", default=7, show_default=True)
@click.option(
    "--repeat",
    default=2,
    show_default=True,
    type=click.IntRange(min=1),
    help="Builds on each warehouse, alternating; the figures are medians.",
)
@click.option(
    "--cluster",
    type=click.Choice(["own", "running"]),
    default="own",
    show_default=True,
    help="own: start a local cluster for the benchmark (its own ports and folder) and stop it after; "
    "running: the one the TESSERA_SPARK_* settings name (make spark-up).",
)
@workdir_option
def bench_spark(customers: int, seed: int, repeat: int, cluster: str, workdir: Path | None) -> None:
    """The demo world's whole build through the pipeline (load, dbt with its Python steps, audit, publish) on
    DuckDB and on a local Spark cluster, alternating in one run: wall time, time per phase, peak memory of
    the driver and of the cluster's JVMs, and Spark's median over DuckDB's. Needs the spark extra."""
    from orchestration.build.spark_bench import run_spark_benchmark

    with (
        bench_folder(workdir, "spark") as folder,
        console.status(f"Spark against DuckDB at {customers:,} customers …"),
    ):
        figures = run_spark_benchmark(customers, seed, folder, repeat, cluster)
    console.print(json.dumps(figures), soft_wrap=True)
