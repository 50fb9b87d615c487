"""The raw contract: the columns staging needs from each built-in raw table, read from the dbt sources' YAML.

A column staging reads is declared under its source table in `models/staging/<source>/_<source>__sources.yml`;
`meta: {required: true}` marks the ones a table cannot do without. A raw file that lacks a required column
stops the load before any table changes, so nothing downstream is built or published from it. A declared
column without the mark is optional: when a file lacks it the load keeps it, null, and reports it. Columns
nobody declared are new: kept and reported (docs/raw_schema.md).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq
import yaml  # type: ignore[import-untyped]

from orchestration.settings import PROJECT_DIR

# The load stamps it; a file never needs to carry it.
LOAD_STAMP = "_loaded_at"


@dataclass(frozen=True)
class TableContract:
    """What staging needs from one raw table (`raw_<source>.<table>`, file `<source>/<table>.parquet`)."""

    source: str
    table: str
    required: tuple[str, ...]
    optional: tuple[str, ...]
    declared_in: Path

    @property
    def declared(self) -> tuple[str, ...]:
        return self.required + self.optional


@dataclass(frozen=True)
class MissingColumn:
    source: str
    table: str
    column: str
    path: Path
    declared_in: Path
    new_columns: tuple[str, ...] = ()

    def describe(self) -> str:
        line = (
            f"raw table {self.source}.{self.table} has no column {self.column!r}, which staging requires "
            f"({_shown(self.declared_in)}); file {_shown(self.path)}"
        )
        if self.new_columns:
            line += f"; columns new in the file: {', '.join(_safe(c) for c in self.new_columns[:5])}"
        return line


class RawContractError(ValueError):
    """A raw file lacks a column staging requires: nothing was loaded, built or published."""

    def __init__(self, missing: list[MissingColumn]):
        self.missing = missing
        tables = sorted({f"{m.source}.{m.table}" for m in missing})
        super().__init__(
            "; ".join(m.describe() for m in missing)
            + f". Nothing was loaded or published: rename the column back in the source, or change "
            f"staging and its sources YAML ({', '.join(tables)})."
        )


def _shown(path: Path) -> str:
    try:
        return str(path.relative_to(PROJECT_DIR))
    except ValueError:
        return str(path)


def _safe(name: str) -> str:
    """A column name from a file, fit for one line of a message (no control characters, bounded)."""
    cleaned = "".join(ch if ch.isprintable() else "?" for ch in name)
    return repr(cleaned[:60] + ("…" if len(cleaned) > 60 else ""))


_SAFE_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def _is_required(column: dict[str, Any]) -> bool:
    meta = dict(column.get("meta") or {})
    meta.update((column.get("config") or {}).get("meta") or {})
    return meta.get("required") is True


def raw_contract(models_dir: Path | None = None) -> dict[tuple[str, str], TableContract]:
    """Every declared raw table's contract, keyed by (source folder, table file stem), from the dbt sources
    whose schema is `raw_<source>` (the schemas the load writes)."""
    models_dir = models_dir or PROJECT_DIR / "models"
    contracts: dict[tuple[str, str], TableContract] = {}
    for path in sorted(models_dir.rglob("*.yml")):
        # libyaml's loader where PyYAML has it: every build reads the ~50 YAML files, ten times faster.
        document = yaml.load(path.read_text(), Loader=_SAFE_LOADER) or {}
        for source in document.get("sources") or []:
            schema = str(source.get("schema") or "")
            if not schema.startswith("raw_"):
                continue
            folder = schema.removeprefix("raw_")
            for table in source.get("tables") or []:
                name = str(table.get("identifier") or table["name"])
                columns = [c for c in table.get("columns") or [] if c.get("name")]
                if not columns:  # nothing declared (the person sources' landing tables): no contract
                    continue
                contracts[(folder, name)] = TableContract(
                    source=folder,
                    table=name,
                    required=tuple(str(c["name"]) for c in columns if _is_required(c)),
                    optional=tuple(str(c["name"]) for c in columns if not _is_required(c)),
                    declared_in=path,
                )
    return contracts


def check_raw_files(
    files: list[tuple[str, str, Path]], contracts: dict[tuple[str, str], TableContract] | None = None
) -> None:
    """Raise RawContractError naming every (table, column) a raw file lacks; reads only the files' schemas."""
    contracts = raw_contract() if contracts is None else contracts
    missing: list[MissingColumn] = []
    for source, table, path in files:
        contract = contracts.get((source, table))
        if contract is None:
            continue
        names = pq.read_schema(path).names
        new = tuple(c for c in names if c not in contract.declared and c != LOAD_STAMP)
        missing += [
            MissingColumn(source, table, column, path, contract.declared_in, new)
            for column in contract.required
            if column not in names
        ]
    if missing:
        raise RawContractError(missing)


def optional_missing(
    source: str, table: str, incoming: list[str], contracts: dict[tuple[str, str], TableContract]
) -> list[str]:
    """The declared optional columns a file lacks: the load adds them, null, so staging still reads them."""
    contract = contracts.get((source, table))
    return [] if contract is None else [c for c in contract.optional if c not in incoming]
