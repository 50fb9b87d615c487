"""Whole-file writes that a reader never sees half done: write aside, then rename into place."""

from __future__ import annotations

import contextlib
import os
import secrets
from collections.abc import Iterator
from pathlib import Path


@contextlib.contextmanager
def written_aside(path: Path, *, durable: bool = False) -> Iterator[Path]:
    """Yields a new path beside `path` to write the whole file to. When the block ends without an error,
    that file replaces `path` in one rename, so a reader (or a second writer racing this one) sees the
    old file or the new one, never a part. On an error the file written aside is removed and `path` is
    left as it was. `durable` flushes the new file to disk before the rename (a file another process
    must find intact after a crash, such as the published sync state).

    The name aside is unique per call (a process id alone is not: two threads of one process may write
    one file), starts with a dot and ends in `.partial`, so what a killed process leaves behind matches
    no reader's pattern. The file is created by whatever the block calls, with that call's permissions
    (not tempfile's private 0600)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    aside = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}.partial")
    try:
        yield aside
        if durable:
            with open(aside, "rb+") as handle:
                os.fsync(handle.fileno())
        os.replace(aside, path)
    finally:
        aside.unlink(missing_ok=True)
