"""Whole-file writes that a reader never sees half done: write aside, then rename into place."""

from __future__ import annotations

import contextlib
import glob
import os
import secrets
from collections.abc import Iterator
from pathlib import Path

ASIDE_SUFFIX = ".partial"


@contextlib.contextmanager
def written_aside(path: Path, *, durable: bool = False) -> Iterator[Path]:
    """Yields a new path beside `path` to write the whole file to. When the block ends without an error,
    that file replaces `path` in one rename, so a reader (or a second writer racing this one) sees the
    old file or the new one, never a part. On an error the file written aside is removed and `path` is
    left as it was. `durable` flushes the new file, and then the rename, to disk (a file that must be
    found intact after a crash: the published sync state, a destination's file drop).

    The name aside is unique per call (a process id alone is not: two threads of one process may write
    one file). It starts with a dot and ends in `.partial`, so no reader's pattern matches it. What a
    killed writer left beside `path` (its process is gone) is removed by the next write of `path`: it
    may hold personal data that an erase has since removed from `path`. The file is created by whatever
    the block calls, with that call's permissions (not tempfile's private 0600)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    _remove_abandoned(path)
    aside = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}{ASIDE_SUFFIX}")
    try:
        yield aside
        if durable:
            with open(aside, "rb+") as handle:
                os.fsync(handle.fileno())
        os.replace(aside, path)
        if durable:
            folder = os.open(path.parent, os.O_RDONLY)
            try:
                os.fsync(folder)
            finally:
                os.close(folder)
    finally:
        for left in (aside, aside.with_name(f"{aside.name}.wal")):  # DuckDB's log, after a fatal error
            left.unlink(missing_ok=True)


def _remove_abandoned(path: Path) -> None:
    """Remove the files that writers of `path` left aside when they were killed (and DuckDB's `.wal`
    beside one): those whose process no longer runs."""
    prefix = f".{path.name}."
    for left in path.parent.glob(f"{glob.escape(prefix)}*{ASIDE_SUFFIX}*"):
        pid = left.name[len(prefix) :].split(".", 1)[0]
        if pid.isdigit() and not _running(int(pid)):
            left.unlink(missing_ok=True)


def _running(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's process
        return True
    return True
