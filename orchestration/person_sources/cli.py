"""`tessera sources` and `tessera bench sources`."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import click
from rich.console import Console
from rich.table import Table

from orchestration.settings import Settings

console = Console()


def person_sources_ok(settings: Settings) -> bool:
    """Check the person-source declarations before anything runs; print why not."""
    from orchestration.person_sources import PersonSourceConfigError, PersonSourceLoadError
    from orchestration.person_sources.check import check_sources

    try:
        check_sources(settings)
    except (PersonSourceConfigError, PersonSourceLoadError) as exc:
        console.print(f"[red]person sources: {exc}[/red]", soft_wrap=True)
        return False
    return True


def _shown_path(text: str) -> str:
    try:
        return str(Path(text).relative_to(Path.cwd()))
    except ValueError:
        return text


@click.command(name="sources")
def sources() -> None:
    """Check the person sources declared in sources/person_sources.yml (docs/person_sources.md)."""
    from orchestration.person_sources.check import check_sources
    from orchestration.person_sources.config import config_paths

    settings = Settings.from_env()
    if not person_sources_ok(settings):
        sys.exit(2)
    files = ", ".join(_shown_path(str(p)) for p in config_paths(settings) if p.exists())
    table = Table(title=f"Person sources ({files or 'none declared'})")
    for column in ("source", "reads", "record id", "fields", "external ids", "priority"):
        table.add_column(column)
    for row in check_sources(settings):
        reads = _shown_path(row["reads"]) + ("" if row["checked"] else " (not checked: no warehouse yet)")
        table.add_row(
            row["source"], reads, row["record_id"], row["fields"], row["external_ids"], str(row["priority"])
        )
    console.print(table)


@click.command("sources")
@click.option("--rows", default=1_000_000, show_default=True, help="Rows in the synthetic CSV person source.")
def bench_sources(rows: int) -> None:
    """Land a declared CSV person source and build its staging models; JSON on the last line."""
    import resource
    import shutil
    import tempfile

    from orchestration.person_sources.bench import bench_sources as run_bench_sources

    folder = Path(tempfile.mkdtemp(prefix="tessera-bench-sources-"))
    try:
        with console.status(f"landing and staging a {rows:,}-row CSV person source …"):
            figures = run_bench_sources(rows, folder)
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    figures = {
        "benchmark": "sources",
        "cores": os.cpu_count(),
        **figures,
        "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024),
    }
    console.print(json.dumps(figures), soft_wrap=True)
