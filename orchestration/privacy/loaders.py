"""The loader tables a source preset reads in place (sources/presets.yml, docs/sources.md): a Segment or
RudderStack schema, Fivetran's Shopify, HubSpot, Zendesk or Klaviyo schema, Snowplow's atomic events.

They hold the person's calls and records as the loader wrote them, and every build reads them again, so an
erase must take the person out of them like out of Tessera's own raw tables, and the proof must scan them.
Tessera's share of such a schema is the tables with the declared prefix (all of them without a prefix): other
tables there belong to someone else and are neither edited nor scanned.

A preset in another database (`database:` in the declaration) is out of reach of the erase's connection: the
erase says so (step `loader_table`, `not_supported`) and the proof lists it under `not_scanned`. On DuckDB, a
database that names a loader's own file (sources/presets.yml `databases:`) is reached by opening that file
(backend_duckdb.py).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from orchestration.settings import Settings
from orchestration.source_presets import load_presets
from orchestration.source_presets.config import SourceDeclaration


@dataclass(frozen=True)
class LoaderSource:
    """One source system read in place: which preset, and where its tables are."""

    system: str
    preset: str
    database: str | None
    schema: str
    prefix: str
    # The mapped preset reads one table, named in its declaration, whose identifier columns the declaration
    # names too (its user_id / anonymous_id roles); the other presets' tables are all those of the prefix.
    table: str | None = None
    id_columns: tuple[str, ...] = ()

    @property
    def label(self) -> str:
        where = f"{self.database}.{self.schema}" if self.database else self.schema
        if self.table is not None:
            return f"{self.system} preset {self.preset} ({where}, table '{self.table}')"
        return f"{self.system} preset {self.preset} ({where}, prefix '{self.prefix}')"

    def holds(self, schema: str, table: str) -> bool:
        """Whether `schema.table` is one of this source's tables (names compare case-insensitively, as
        unquoted identifiers do)."""
        if schema.lower() != self.schema.lower():
            return False
        if self.table is not None:
            return table.lower() == self.table.lower()
        return table.lower().startswith(self.prefix.lower())


def _source(system: str, d: SourceDeclaration, schema: str) -> LoaderSource:
    if d.preset != "mapped" or d.columns is None:
        return LoaderSource(system, d.preset, d.database, schema, d.table_prefix)
    ids = tuple(column for column in (d.columns.user_id, d.columns.anonymous_id) if column)
    return LoaderSource(system, d.preset, d.database, schema, "", d.table, ids)


def loader_sources(settings: Settings) -> list[LoaderSource]:
    """Every declared source read in place (the demo preset loads files into raw_<source> and is not one)."""
    presets = load_presets(settings.project_dir)
    return [
        _source(system, d, d.schema_name)
        for system, d in sorted(presets.sources.items())
        if d.preset != "demo" and d.schema_name is not None
    ]


def loader_files(settings: Settings) -> dict[str, tuple[Path, list[LoaderSource]]]:
    """{declared name, lower-cased: (file, the sources read from it)} for each loader's own database file
    that a source reads."""
    presets = load_presets(settings.project_dir)
    out: dict[str, tuple[Path, list[LoaderSource]]] = {}
    for source in loader_sources(settings):
        file = presets.database_file(source.database)
        if file is not None:
            out.setdefault(source.database.lower(), (file, []))[1].append(source)  # type: ignore[union-attr]
    return out


def split_reach(
    sources: Iterable[LoaderSource], database: str | None
) -> tuple[list[LoaderSource], list[LoaderSource]]:
    """(reached, out of reach) for a connection to `database` (None: DuckDB's build file, which reaches
    only the sources that name no database)."""
    reached: list[LoaderSource] = []
    unreached: list[LoaderSource] = []
    for source in sources:
        same = source.database is None or (
            database is not None and source.database.lower() == database.lower()
        )
        (reached if same else unreached).append(source)
    return reached, unreached


def loader_tables(
    tables: Iterable[tuple[str, str]], sources: Iterable[LoaderSource]
) -> list[tuple[str, str]]:
    """The (schema, table) pairs among `tables` that belong to one of `sources`."""
    chosen = list(sources)
    return [(s, t) for s, t in tables if any(source.holds(s, t) for source in chosen)]


def unreached_notes(sources: Iterable[LoaderSource]) -> dict[str, str]:
    """Per source out of reach, what its owner must do (for the ledger and the proof)."""
    return {
        f"{source.system}.{source.database}.{source.schema}": (
            f"the {source.label} is in another database than the erase's connection: Tessera can neither "
            "delete nor scan there, the loader's owner must delete the person (until then each build "
            "quarantines their rows as suppressed)"
        )
        for source in sources
    }
