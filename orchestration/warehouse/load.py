"""Raw loading shared by the warehouses: which files there are, what one load did, schema drift, types."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path

import pyarrow as pa

log = logging.getLogger(__name__)


@dataclass
class TableLoad:
    """What one raw file did to its warehouse table, schema drift included."""

    source: str
    table: str
    rows: int
    columns_added: list[str] = field(default_factory=list)
    columns_missing: list[str] = field(default_factory=list)


def raw_files(raw_dir: Path) -> list[tuple[str, str, Path]]:
    """(source, table, path) for every raw Parquet file, in a stable order."""
    found = []
    for path in sorted(raw_dir.glob("*/*.parquet")):
        found.append((path.parent.name, path.stem, path))
    return found


def drift(previous: dict[str, str], incoming: list[str]) -> tuple[list[str], list[str]]:
    added = [c for c in incoming if c not in previous]
    missing = [c for c in previous if c not in incoming]
    return added, missing


def person_source_loads(counts: dict[str, int], external_ids: int) -> list[TableLoad]:
    """The two landing tables of the declared person sources, as raw table loads."""
    for name, rows in counts.items():
        log.info("person source %s: %d rows loaded", name, rows)
    return [
        TableLoad("person_sources", "records", sum(counts.values())),
        TableLoad("person_sources", "external_ids", external_ids),
    ]


def quoted(name: str) -> str:
    """A column name from a raw file as a SQL identifier: a quote in the name cannot end it."""
    return '"' + name.replace('"', '""') + '"'


def pg_type(arrow_type: pa.DataType) -> str:
    if pa.types.is_boolean(arrow_type):
        return "boolean"
    if pa.types.is_integer(arrow_type):
        return "bigint"
    if pa.types.is_floating(arrow_type):
        return "double precision"
    if pa.types.is_timestamp(arrow_type):
        return "timestamp"
    if pa.types.is_date(arrow_type):
        return "date"
    return "text"
