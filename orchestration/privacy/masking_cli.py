"""`tessera masked-file`: write the masked DuckDB file for analysts who need no raw PII."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import click
from rich.console import Console

console = Console()


@click.command("masked-file")
@click.option(
    "--out",
    type=click.Path(path_type=Path),
    default=None,
    help="Where to write it [default: TESSERA_MASKED_FILE, else warehouse/tessera_masked.duckdb].",
)
def masked_file(out: Path | None) -> None:
    """Copy the published masked views (PII hashed or redacted) into a file of their own."""
    from orchestration.privacy.masking import MaskedFileError, export_masked_file, masked_file_path
    from orchestration.settings import Settings

    settings = Settings.from_env()
    target = out or masked_file_path(settings)
    try:
        counts = export_masked_file(settings.published_db, target)
    except MaskedFileError as exc:
        console.print(f"[red]{exc}[/red]")
        sys.exit(1)
    console.print(f"wrote {len(counts)} masked tables to {target}")
    console.print(json.dumps({"file": str(target), "tables": counts}), soft_wrap=True)
