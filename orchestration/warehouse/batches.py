"""Record batches between a warehouse and the Python steps: tables read and written a batch at a time,
so a step never holds a whole table in memory (issue #16, out of core)."""

from __future__ import annotations

import contextlib
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

# Rows per batch when a caller names none: tens of MB for the widest table a Python step reads.
BATCH_ROWS = 100_000


def wanted_columns(relation: str, declared: dict[str, str], columns: list[str] | None) -> list[str]:
    """The columns a step asked for (all, when it named none) of a build table whose columns are
    `declared`; a table that does not exist, or lacks a column, is a clear error."""
    if not declared:
        raise RuntimeError(f"{relation} does not exist: the dbt invocation before this step did not build it")
    wanted = list(declared) if columns is None else columns
    missing = [name for name in wanted if name not in declared]
    if missing:
        raise RuntimeError(f"{relation} lacks the columns {missing}")
    return wanted


def closing_reader(reader: pa.RecordBatchReader, close: Callable[[], None]) -> pa.RecordBatchReader:
    """`reader`, with `close` called once it is read to the end, fails, or is dropped unread (the
    connection or file it reads from lives until then)."""

    def batches() -> Iterator[pa.RecordBatch]:
        try:
            yield from reader
        finally:
            close()

    return pa.RecordBatchReader.from_batches(reader.schema, batches())


def write_parquet(rows: pa.RecordBatchReader, path: Path) -> int:
    """Write the stream `rows` to a Parquet file a batch at a time; the number of rows written."""
    count = 0
    with pq.ParquetWriter(path, rows.schema) as writer:
        for batch in rows:
            writer.write_batch(batch)
            count += batch.num_rows
    return count


@contextlib.contextmanager
def spooled_parquet(rows: pa.RecordBatchReader) -> Iterator[tuple[Path, int]]:
    """The stream `rows` written to a temporary Parquet file (its path and row count), removed after
    the block. Writing the whole stream before loading it lets a step read one build table while it
    writes another: the reader's connection is closed before the writer's opens."""
    with tempfile.TemporaryDirectory(prefix="tessera-batches-") as folder:
        path = Path(folder) / "rows.parquet"
        yield path, write_parquet(rows, path)
