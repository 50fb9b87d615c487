"""Writes raw tables (cast to the contract in schema.py) and the truth table, chunk by chunk."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from ._util import PoolCol, const_str
from .schema import PERSON_TABLES, SCHEMAS

COMPRESSION = "zstd"


def to_arrow(values: Any, typ: pa.DataType, n: int) -> pa.Array:
    """Accepts an arrow array, a numpy array (object arrays may hold None) or a scalar (broadcast)."""
    if isinstance(values, PoolCol):
        values = values.to_arrow()
    if isinstance(values, pa.ChunkedArray):
        values = values.combine_chunks()
    if isinstance(values, pa.Array):
        return values if values.type == typ else values.cast(typ)
    if isinstance(values, np.ndarray):
        if pa.types.is_timestamp(typ) and values.dtype.kind in "iu":
            return pa.array(values.astype(np.int64), pa.int64()).cast(typ)
        if pa.types.is_string(typ) and values.dtype.kind != "O":
            values = values.astype(object)
        return pa.array(values, typ)
    if values is None:
        return pa.nulls(n, typ)
    if pa.types.is_timestamp(typ) and isinstance(values, int | np.integer):
        return pa.array(np.full(n, int(values), dtype=np.int64), pa.int64()).cast(typ)
    return pa.array([values] * n, typ)


class Sink:
    def __init__(self, out: Path) -> None:
        self.out = Path(out)
        self.counts: dict[str, int] = {}
        self._writers: dict[str, pq.ParquetWriter] = {}
        self.truth_rows = 0

    def _writer(self, name: str) -> pq.ParquetWriter:
        if name not in self._writers:
            if name == "truth.truth":
                path = self.out / "truth" / "truth.parquet"
            else:
                source, table = name.split(".")
                path = self.out / "raw" / source / f"{table}.parquet"
            path.parent.mkdir(parents=True, exist_ok=True)
            self._writers[name] = pq.ParquetWriter(path, SCHEMAS[name], compression=COMPRESSION)
        return self._writers[name]

    def write(
        self,
        name: str,
        cols: dict[str, Any],
        person_id: np.ndarray | None = None,
        truth_rows: np.ndarray | None = None,
    ) -> pa.Table:
        """Write one chunk of table `name`; `person_id` (one per row) feeds the truth table.

        `truth_rows` (bool per row) marks the rows that get a truth row: repeated deliveries of the same
        record must be left out by the caller. Rows without a record id never get one.
        """
        schema = SCHEMAS[name]
        extra = set(cols) - set(schema.names)
        missing = set(schema.names) - set(cols)
        if extra or missing:  # pragma: no cover - programming error
            raise ValueError(f"{name}: extra columns {sorted(extra)}, missing {sorted(missing)}")
        n = next(
            len(v) for v in cols.values() if isinstance(v, np.ndarray | pa.Array | pa.ChunkedArray | PoolCol)
        )
        arrays = [to_arrow(cols[f.name], f.type, n) for f in schema]
        table = pa.Table.from_arrays(arrays, schema=schema)
        self._writer(name).write_table(table)
        self.counts[name] = self.counts.get(name, 0) + table.num_rows
        if name in PERSON_TABLES:
            if person_id is None:  # pragma: no cover - programming error
                raise ValueError(f"{name} needs person ids for the truth table")
            self._truth(name, table.column(PERSON_TABLES[name]), person_id, truth_rows)
        return table

    def truth(self, source: str, table: str, record_ids: list[str], person_ids: list[int]) -> None:
        """Truth rows for records that are not in a raw Parquet table (a declared person source)."""
        self._truth(
            f"{source}.{table}",
            pa.chunked_array([pa.array(record_ids, pa.string())]),
            np.asarray(person_ids),
            None,
        )

    def _truth(
        self, name: str, record_id: pa.ChunkedArray, person_id: np.ndarray, truth_rows: np.ndarray | None
    ) -> None:
        rid = record_id.combine_chunks()
        if not pa.types.is_string(rid.type):
            rid = pc.cast(rid, pa.string())
        keep = np.asarray(rid.is_valid().to_numpy(zero_copy_only=False), dtype=bool)
        if truth_rows is not None:
            keep &= truth_rows
        idx = np.flatnonzero(keep)
        source, table = name.split(".")
        truth = pa.Table.from_arrays(
            [
                const_str(source, len(idx)),
                const_str(table, len(idx)),
                rid.take(pa.array(idx)),
                pa.array(np.asarray(person_id, dtype=np.int64)[idx], pa.int64()),
            ],
            schema=SCHEMAS["truth.truth"],
        )
        self._writer("truth.truth").write_table(truth)
        self.truth_rows += truth.num_rows

    def close(self) -> None:
        for name in sorted(self._writers):
            self._writers[name].close()
        self._writers.clear()
