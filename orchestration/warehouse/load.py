"""Raw loading shared by the warehouses: which files there are, what one load did, schema drift, types."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from orchestration.warehouse.files import written_aside

log = logging.getLogger(__name__)


@dataclass
class TableLoad:
    """What one raw file did to its warehouse table, schema drift included."""

    source: str
    table: str
    rows: int
    columns_added: list[str] = field(default_factory=list)
    columns_missing: list[str] = field(default_factory=list)


#: Where the empty stand-ins for absent raw tables are written, beside raw/ in the data folder.
ABSENT_DIR = ".absent_raw"


def present_raw_files(raw_dir: Path) -> list[tuple[str, str, Path]]:
    """(source, table, path) for every raw Parquet file there is, in a stable order."""
    return [(path.parent.name, path.stem, path) for path in sorted(raw_dir.glob("*/*.parquet"))]


def raw_files(raw_dir: Path) -> list[tuple[str, str, Path]]:
    """(source, table, path) for every raw table, in a stable order: its file, or for a table of the raw
    contract (docs/raw_schema.md) that has none, an empty file with the contract's columns. A system a
    company does not have (no POS, no support desk, or none of them when every source is read in place)
    loads as empty tables, so staging and every model after it build, with no rows."""
    from orchestration.generate.schema import RAW_TABLES, SCHEMAS

    found = {(source, table): path for source, table, path in present_raw_files(raw_dir)}
    for name in RAW_TABLES:
        source, table = name.split(".")
        if (source, table) not in found:
            found[(source, table)] = _empty_file(
                raw_dir.parent / ABSENT_DIR / source / f"{table}.parquet", SCHEMAS[name]
            )
            log.info("no raw file for %s.%s in %s: loaded as an empty table", source, table, raw_dir)
    return [(source, table, path) for (source, table), path in sorted(found.items())]


def is_stand_in(path: Path) -> bool:
    """True for the empty stand-in raw_files() wrote for a raw table that has no file."""
    return path.parent.parent.name == ABSENT_DIR


def keep_earlier_load(source: str, table: str, rows: int) -> TableLoad:
    """A raw table that has no file this time but was loaded by an earlier build keeps its rows: a file
    missing from one delivery must not empty the table (every downstream mart, and a sync's adds, would
    follow). Only a table never loaded becomes an empty stand-in. Logged once per table, by name; not
    for a system a preset reads in place, which has no raw file by design."""
    from orchestration.source_presets.config import read_in_place

    if source in read_in_place():
        log.debug("no raw file for %s.%s: the system is read in place by its preset", source, table)
    else:
        log.warning(
            "no raw file for %s.%s: the %d rows an earlier build loaded are kept (drop raw_%s.%s to "
            "declare the system absent)",
            source,
            table,
            rows,
            source,
            table,
        )
    return TableLoad(source, table, rows)


def _empty_file(path: Path, schema: pa.Schema) -> Path:
    """An empty Parquet file with `schema` at `path` (written whole, then renamed: two builds may race)."""
    with written_aside(path) as aside:
        pq.write_table(schema.empty_table(), aside)
    return path


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
