"""`tessera audiences …`: sizes and overlaps, explain a membership, check definitions, HTML report."""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path
from typing import Any

import click
from rich.console import Console
from rich.table import Table

from orchestration.build.bench_options import bench_folder, workdir_option
from orchestration.settings import Settings

console = Console()


@click.group(invoke_without_command=True)
@click.pass_context
def audiences(ctx: click.Context) -> None:
    """Audience sizes, holdouts and overlaps of the published build (or a subcommand)."""
    if ctx.invoked_subcommand is not None:
        return
    from orchestration.audiences.report import overview

    view = overview(Settings.from_env())
    if not view.sizes:
        console.print("No audience sizes yet: run a build first (tessera run).")
        return
    sizes = Table(title=f"Audiences (build of {str(view.sizes[0].built_at)[:19]})")
    for column in ("audience", "members", "holdout", "global holdout", "activatable", "entered", "exited"):
        sizes.add_column(column, justify="left" if column == "audience" else "right", no_wrap=True)
    for s in view.sizes:
        sizes.add_row(
            s.audience_name,
            f"{s.member_count:,}",
            f"{s.holdout_count:,}",
            f"{s.global_holdout_count:,}",
            f"{s.activatable_count:,}",
            f"+{s.entered_count:,}",
            f"-{s.exited_count:,}",
        )
    console.print(sizes)
    names = [s.audience_name for s in view.sizes]
    overlaps = Table(title="Overlaps: members of the row audience also in the column audience (share of row)")
    overlaps.add_column("audience", no_wrap=True)
    for index in range(len(names)):
        overlaps.add_column(f"[{index + 1}]", justify="right")
    for index, a in enumerate(names):
        cells = []
        for b in names:
            count, share = view.overlaps.get((a, b), (0, 0.0))
            cells.append(f"{count:,} ({share:.0%})")
        overlaps.add_row(f"[{index + 1}] {a}", *cells)
    console.print(overlaps)
    if view.priority_lists:
        lists = Table(title="Priority lists: customers assigned to each audience (highest priority first)")
        for column in ("list", "rank", "audience", "assigned"):
            lists.add_column(column, justify="right" if column in ("rank", "assigned") else "left")
        for list_name, audience, rank, assigned in view.priority_lists:
            lists.add_row(list_name, str(rank), audience, f"{assigned:,}")
        console.print(lists)


@audiences.command()
@click.argument("audience")
@click.argument("identifier")
def explain(audience: str, identifier: str) -> None:
    """Why customer IDENTIFIER (TYPE:VALUE or a customer_id) is in, or not in, AUDIENCE."""
    from orchestration.audiences.report import explain as run_explain
    from orchestration.identity.profile import CustomerNotFound

    try:
        result = run_explain(Settings.from_env(), audience, identifier)
    except (CustomerNotFound, KeyError) as exc:
        console.print(f"[red]{exc.args[0] if exc.args else exc}[/red]")
        sys.exit(1)
    verdict = "[green]IS a member[/green]" if result.is_member else "[red]is NOT a member[/red]"
    console.print(
        f"Customer [bold]{result.customer_id}[/bold] ({identifier}) {verdict} of [bold]{audience}[/bold]."
    )
    table = Table(title="Conditions (is_member combines them as the audience defines)")
    table.add_column("condition")
    table.add_column("met", justify="center")
    for name, value in result.conditions:
        table.add_row(name, "[green]yes[/green]" if value else "[red]no[/red]")
    console.print(table)
    console.print(f"is_member = {_definition(audience)}", soft_wrap=True)
    if result.is_member:
        console.print(
            f"holdout (control group): {'yes' if result.is_holdout else 'no'}; "
            f"global holdout: {'yes' if result.is_global_holdout else 'no'}"
        )
    for list_name, assigned in result.priority_assignments:
        console.print(f"priority list {list_name}: assigned to {assigned}")
    for kind, at in result.history:
        console.print(f"  {kind} at {at}")


def _definition(audience: str) -> str:
    from orchestration.audiences.check import check_rules
    from orchestration.audiences.rules import AudienceConfigError, rule_expression

    try:
        spec = check_rules().find(audience)
    except (AudienceConfigError, KeyError) as exc:
        return f"(definition not readable: {exc})"
    if spec.rule is None:
        return f"as written in models/audiences/{spec.model_name}.sql"
    return rule_expression(spec.rule)


@audiences.command()
def check() -> None:
    """Validate every audience: rules, references, cycles, and each model's SQL (one SELECT only)."""
    from orchestration.audiences.check import (
        AudienceConfigError,
        AudienceSqlRefused,
        check_audiences,
        check_columns,
    )

    settings = Settings.from_env()
    try:
        with console.status("compiling models/audiences/ and checking each with sqlglot …"):
            result = check_audiences(settings)
    except (AudienceConfigError, AudienceSqlRefused) as exc:
        console.print(f"[red]{exc}[/red]", soft_wrap=True)
        sys.exit(2)
    missing = check_columns(settings, result.project)
    for problem in missing:
        console.print(f"[red]{problem}[/red] (in the published warehouse)", soft_wrap=True)
    if missing:
        sys.exit(2)
    rules = sum(1 for a in result.project.audiences if a.rule is not None)
    console.print(
        f"[green]ok[/green]: {len(result.project.audiences)} audiences ({rules} rules); "
        f"{len(result.models_checked)} models are single SELECTs."
    )


@audiences.command("vars")
@click.option(
    "--format",
    "output",
    type=click.Choice(["dbt", "sqlfluff"]),
    default="dbt",
    show_default=True,
    help="sqlfluff: a config file passing them as one JSON string (its dbt templater takes only strings).",
)
def dbt_vars_command(output: str) -> None:
    """Print the audiences and the trait registry as dbt vars (JSON), for a dbt command run by hand:
    dbt build --vars "$(tessera audiences vars)"."""
    from orchestration.audiences.definitions import TraitConfigError, dbt_vars
    from orchestration.audiences.rules import AudienceConfigError
    from orchestration.audiences.sqlcheck import AudienceSqlRefused

    try:
        packed = json.dumps(dbt_vars(), default=str)
        if output == "sqlfluff":
            # dbt renders a string var as Jinja: escape what would open a tag (only inside JSON strings).
            for tag in ("{{", "{%", "{#"):
                packed = packed.replace(tag, "\\u007b" + tag[1])
            click.echo(f"[sqlfluff:templater:dbt:context]\ntessera_analyst_json = {packed}")
        else:
            click.echo(packed)
    except (AudienceConfigError, AudienceSqlRefused, TraitConfigError) as exc:
        click.echo(str(exc), err=True)
        sys.exit(2)


@audiences.command("lift")
def lift_command() -> None:
    """Treatment against holdout per audience and outcome (audience_lift), with 95% intervals."""
    from orchestration.audiences.report import format_value, lift

    lifts = lift(Settings.from_env())
    if not lifts:
        console.print(
            "No audience with a holdout and lift outcomes (lift_outcomes in audiences/_audiences.yml)."
        )
        return
    table = Table(title="Lift: treatment against the audience's holdout, members whose window has ended")
    for column in ("audience", "outcome", "treatment", "control", "uplift", "95% interval", ""):
        table.add_column(column, justify="left" if column in ("audience", "outcome") else "right")
    for item in lifts:
        kind = item.outcome_kind
        if not item.measured:
            arms = (f"n={item.treatment_count:,}", f"n={item.control_count:,}")
            table.add_row(item.audience_name, item.outcome_name, *arms, "–", "–", "not measured yet")
            continue
        table.add_row(
            item.audience_name,
            item.outcome_name,
            f"{format_value(kind, item.treatment_mean)} (n={item.treatment_count:,})",
            f"{format_value(kind, item.control_mean)} (n={item.control_count:,})",
            format_value(kind, item.uplift),
            f"[{format_value(kind, item.uplift_ci_low)}, {format_value(kind, item.uplift_ci_high)}]",
            "significant" if item.is_significant else "",
        )
    console.print(table)


@audiences.command()
@click.option("--out", type=click.Path(path_type=Path), default=Path("audiences.html"), show_default=True)
def report(out: Path) -> None:
    """Write a self-contained HTML report: sizes, size over time, overlap heat map."""
    from orchestration.audiences.report import html_report

    out.write_text(html_report(Settings.from_env()))
    console.print(f"wrote {out}")


@click.command("audiences")
@click.option("--customers", default=100_000, show_default=True)
@click.option("--seed", default=7, show_default=True)
@workdir_option
def bench_audiences(customers: int, seed: int, workdir: Path | None) -> None:
    """Build time of the audience models at N customers (per model, from dbt's run_results)."""
    from orchestration.audiences.bench import run_audience_benchmark

    with (
        bench_folder(workdir, "audiences") as folder,
        console.status(f"audience benchmark at {customers:,} customers (two builds) …"),
    ):
        figures = run_audience_benchmark(customers, seed, folder)
    console.print(json.dumps(figures), soft_wrap=True)


@click.command("lift")
@click.option(
    "--customers",
    default=500,
    show_default=True,
    help="Persons per world (a small world: the null audience has about 90 members per arm at 500).",
)
@click.option("--seeds", default=20, show_default=True, help="Worlds to build, one per seed.")
@click.option("--seed", "first_seed", default=1, show_default=True, help="The first seed.")
@click.option("--workdir", type=click.Path(path_type=Path), default=None, help="Build the worlds here.")
@click.option(
    "--out",
    type=click.Path(path_type=Path, dir_okay=False),
    default=None,
    help="Write the figures here as JSON, rewritten after every seed (the figures so far).",
)
def bench_lift(customers: int, seeds: int, first_seed: int, workdir: Path | None, out: Path | None) -> None:
    """Planted lift recovered by audience_lift (estimate, 95% interval, truth) and the null audience's
    false-positive rate of "significant", over SEEDS small worlds (two builds each), built with the
    bench's audiences (orchestration/audiences/bench_audiences/: a broad null audience, half held out)."""
    import shutil
    import tempfile

    from orchestration.audiences.lift_bench import SeedResult, run_lift_benchmark
    from orchestration.audiences.report import format_value

    if seeds < 1:
        raise click.BadParameter("at least one seed", param_hint="--seeds")
    folder = workdir or Path(tempfile.mkdtemp(prefix="tessera-bench-lift-"))
    started = time.monotonic()

    def progress(k: int, result: SeedResult) -> None:
        effect, null = result.effect, result.null

        def interval(item: Any) -> str:
            return (
                f"[{format_value('order', item.uplift_ci_low)}, {format_value('order', item.uplift_ci_high)}]"
            )

        console.print(
            f"seed {result.seed} ({k + 1}/{seeds}, {time.monotonic() - started:.0f} s, "
            f"load {os.getloadavg()[0]:.2f}): "
            f"{result.truth.effect_audience} {effect.treatment_count}/{effect.control_count} "
            f"uplift {format_value('order', effect.uplift)} {interval(effect)} "
            f"truth {format_value('order', result.true_uplift)} {'covered' if result.covered else 'NOT covered'}; "
            f"{result.truth.null_audience} {null.treatment_count}/{null.control_count} "
            f"uplift {format_value('order', null.uplift)} {interval(null)} "
            f"{'significant' if null.is_significant else 'not significant'}",
            soft_wrap=True,
        )

    try:
        figures = run_lift_benchmark(customers, seeds, first_seed, folder, progress=progress, out=out)
    finally:
        if workdir is None:
            shutil.rmtree(folder, ignore_errors=True)
    console.print(json.dumps(figures), soft_wrap=True)
