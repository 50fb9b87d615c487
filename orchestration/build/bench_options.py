"""What the `tessera bench` commands share: the `--workdir` option, and the folder a benchmark works in
(the one named, kept; or a temporary one, removed after)."""

from __future__ import annotations

import contextlib
import shutil
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import click

workdir_option: Callable[[Callable[..., Any]], Callable[..., Any]] = click.option(
    "--workdir",
    type=click.Path(path_type=Path),
    default=None,
    help="Keep the files here [default: temporary].",
)


@contextlib.contextmanager
def bench_folder(workdir: Path | None, name: str) -> Iterator[Path]:
    """`workdir`, kept; or a temporary folder named after the benchmark, removed after it."""
    folder = workdir or Path(tempfile.mkdtemp(prefix=f"tessera-bench-{name}-"))
    try:
        yield folder
    finally:
        if workdir is None:
            shutil.rmtree(folder, ignore_errors=True)
