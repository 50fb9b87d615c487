"""Erasure, access export and suppression on DuckDB files: the warehouse-specific half.

DuckDB write-audit-publish: the build file starts as a copy of the published file and replaces it by a
rename. So an erase edits the build copy (the person's rows out of every raw, carried-forward and model
table, the suppression list in), rebuilds and tests it with dbt, rewrites the file so no deleted row
survives in free blocks, scans every table and the file's bytes, and publishes only on zero hits.

A loader's own DuckDB file (sources/presets.yml `databases:`), which builds attach read-only, is edited in
place under the writer lock before the rebuild reads it: the person's rows out of the loader's tables, and
the file rewritten like the build file, while it is still held, so that no loader write is lost. A loader
holding the file (writing it) fails the erase with that reason; the next run finishes it.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import duckdb

from orchestration.person_sources.config import PersonSourcesConfig
from orchestration.privacy import probable
from orchestration.privacy.backend import SUPPRESSION_TABLE, rebuild
from orchestration.privacy.cluster import (
    EraseIncomplete,
    NoWarehouse,
    PersonSourceMatch,
    RawMatch,
    SourceBusy,
    person_rows_condition,
)
from orchestration.privacy.files import compact_duckdb, rewrite_duckdb_in_place
from orchestration.privacy.id_columns import IdentifierColumns, identifier_columns
from orchestration.privacy.loaders import (
    LoaderSource,
    loader_files,
    loader_sources,
    split_reach,
    unreached_notes,
)
from orchestration.privacy.probable import ProbableHit, Traits
from orchestration.privacy.scan import (
    TableScan,
    catalog_columns,
    children_first,
    delete_matching,
    known_columns,
    parent_condition,
    scan_bytes,
    scan_tables,
    tables_of,
)
from orchestration.settings import Settings
from orchestration.warehouse.audit import PublishBlocked
from orchestration.warehouse.connection import open_file, open_read_only, writer_lock
from orchestration.warehouse.interface import Warehouse


def write_suppression_table(con: duckdb.DuckDBPyConnection, hashes: list[tuple[str, str]]) -> None:
    """The list staging reads (through stg_privacy__suppressed_identifiers), beside the models."""
    con.execute(
        f"create or replace table main.{SUPPRESSION_TABLE} (identifier_type varchar, identifier_hash varchar)"
    )
    if hashes:
        con.executemany(f"insert into main.{SUPPRESSION_TABLE} values (?, ?)", [list(h) for h in hashes])


class DuckDBErasure:
    """The published file is read in place; every change goes through a build copy and a rename."""

    name = "duckdb"
    published_schema = "main"
    publish_detail = "rewritten and published"
    publish_refreshes_masked_file = True

    def __init__(self, settings: Settings, warehouse: Warehouse):
        self.settings = settings
        self.warehouse = warehouse

    def check_published(self) -> None:
        if not self.settings.published_db.exists():
            raise NoWarehouse(
                f"there is no published warehouse at {self.settings.published_db}: run a build first"
            )

    @contextlib.contextmanager
    def published_session(self) -> Iterator[duckdb.DuckDBPyConnection]:
        self.check_published()
        con = open_read_only(self.settings.published_db)
        try:
            yield con
        finally:
            con.close()

    def erase(
        self,
        matches: dict[tuple[str, str], RawMatch],
        people: PersonSourceMatch,
        terms: list[str],
        config: PersonSourcesConfig,
        hashes: list[tuple[str, str]],
    ) -> dict[str, Any]:
        edit = _erase_in_build(matches, people, terms, config, hashes, self._id_columns())
        files = loader_files(self.settings)

        # Rows deleted in the loaders' own files: edited in place, they stay deleted if the rebuild fails.
        in_files: dict[str, int] = {}

        def edit_all(con: duckdb.DuckDBPyConnection) -> dict[str, Any]:
            # The loaders' own files first: a busy one stops the erase before the build copy changes.
            for name, (path, sources) in files.items():
                _erase_in_loader_file(name, path, sources, terms, self._id_columns(sources), into=in_files)
            report = edit(con)
            report["deleted_rows"] |= in_files
            return report

        try:
            report = self._rebuild_and_publish(edit_all, terms)
        except Exception as exc:
            if not in_files:
                raise
            raise EraseIncomplete(
                f"{exc} ({sum(in_files.values())} rows were deleted from the loaders' own files already, and "
                "stay deleted: run the erase again to finish it)",
                in_files,
            ) from exc
        # Loader tables in the warehouse file were edited in the copy like every other table, and those in a
        # loader's own file in that file; a source in another catalog is out of reach.
        report["loader_notes"] = unreached_notes(self._out_of_erase_reach())
        return report

    def loader_reach(self) -> tuple[list[LoaderSource], list[LoaderSource]]:
        """The published file reaches the loader schemas inside it: the sources that name no other catalog
        (the access export reads these; a loader's own file is not attached to the published one)."""
        return split_reach(loader_sources(self.settings), None)

    @contextlib.contextmanager
    def loader_file_sessions(self) -> Iterator[list[tuple[str, Any, list[LoaderSource]]]]:
        """Each loader's own database file, open read-only (its tables as `schema.table`)."""
        sessions: list[tuple[str, Any, list[LoaderSource]]] = []
        try:
            for name, (file, sources) in loader_files(self.settings).items():
                sessions.append((name, _open_loader_file(name, file, read_only=True), sources))
            yield sessions
        finally:
            for _, con, _ in sessions:
                con.close()

    def _id_columns(self, sources: list[LoaderSource] | None = None) -> IdentifierColumns:
        """The identifier columns of the warehouse file's tables (its own loader schemas, the models), or of
        the tables of `sources` in a loader's own file: a loader file's schema may share a name with the
        warehouse's or another file's, and its tables take their own preset's columns only."""
        if sources is not None:
            return IdentifierColumns.of(sources)
        return identifier_columns(self.settings, (self.published_schema,), self.loader_reach()[0])

    def _out_of_erase_reach(self) -> list[LoaderSource]:
        """The sources the erase and its proof reach neither in the warehouse file nor in a loader's file."""
        in_files = {source for _, sources in loader_files(self.settings).values() for source in sources}
        return [s for s in self.loader_reach()[1] if s not in in_files]

    def write_suppression_list(self, hashes: list[tuple[str, str]]) -> str:
        def edit(con: duckdb.DuckDBPyConnection) -> dict[str, Any]:
            write_suppression_table(con, hashes)
            return {}

        self._rebuild_and_publish(edit, [])
        return "rebuilt and published with the new suppression list"

    def scan_published(self, terms: list[str], config: PersonSourcesConfig) -> list[TableScan]:
        """The published file's tables, and the loaders' own files the erase edits (their tables as
        `<name>:schema.table`, and `<name>:file bytes` for values left in a file's free blocks)."""
        scans = self._scan_published_file(terms)
        for name, (file, sources) in loader_files(self.settings).items():
            in_file = self._scan_loader_file(name, file, sources, terms)
            scans += in_file
            if not sum(scan.hits for scan in in_file) and (left := scan_bytes(file, terms)):
                scans.append(TableScan(f"{name}:file bytes", 0, left))
        return scans

    def _scan_published_file(self, terms: list[str]) -> list[TableScan]:
        con = open_read_only(self.settings.published_db)
        try:
            id_columns = self._id_columns()
            return scan_tables(con, terms, id_columns=id_columns, parents=id_columns.parent)
        finally:
            con.close()

    def _scan_loader_file(
        self, name: str, file: Path, sources: list[LoaderSource], terms: list[str]
    ) -> list[TableScan]:
        con = _open_loader_file(name, file, read_only=True)
        try:
            id_columns = self._id_columns(sources)
            held = [(s, t) for s, t in tables_of(con) if any(source.holds(s, t) for source in sources)]
            scans = scan_tables(con, terms, tables=held, id_columns=id_columns, parents=id_columns.parent)
        finally:
            con.close()
        return [TableScan(f"{name}:{scan.table}", scan.rows, scan.hits, scan.outside) for scan in scans]

    def prove_published(
        self, terms: list[str], config: PersonSourcesConfig
    ) -> tuple[dict[str, int], int, dict[str, int], dict[str, int]]:
        """Every table of the published file (SQL) and the file's bytes. The byte scan looks for substring
        terms only (scan.byte_terms), so another person's order id equal to a short term is no byte hit."""
        path = self.settings.published_db
        if not path.exists():
            return {}, 0, {}, {}
        scans = [
            TableScan(f"warehouse:{scan.table}", scan.rows, scan.hits, scan.outside)
            for scan in self._scan_published_file(terms)
        ]
        file_bytes = {str(path): scan_bytes(path, terms)}
        # The loaders' own files the erase edits: their tables by SQL, the files' bytes.
        for name, (file, sources) in loader_files(self.settings).items():
            scans += self._scan_loader_file(name, file, sources, terms)
            file_bytes[str(file)] = scan_bytes(file, terms)
        tables = {scan.table: scan.hits for scan in scans}
        outside = {scan.table: scan.outside for scan in scans if scan.outside}
        return tables, sum(scan.rows for scan in scans), file_bytes, outside

    def probe_published(self, traits: Traits, config: PersonSourcesConfig) -> list[ProbableHit]:
        if traits.empty or not self.settings.published_db.exists():
            return []
        con = open_read_only(self.settings.published_db)
        try:
            return probable.scan_tables(con, traits, tables_of(con), "warehouse")
        finally:
            con.close()

    def proof_notes(self) -> dict[str, str]:
        unreached = unreached_notes(self._out_of_erase_reach())
        return (
            {"not_scanned": " ".join(f"Loader tables: {note}." for note in unreached.values())}
            if unreached
            else {}
        )

    def _rebuild_and_publish(
        self, edit: Callable[[duckdb.DuckDBPyConnection], dict[str, Any]], terms: list[str]
    ) -> dict[str, Any]:
        """Write-audit-publish around `edit`: copy the published file, edit the copy, dbt build and test it,
        rewrite it compactly, check no term is left (SQL and bytes), and publish. Holds the writer lock."""
        settings = self.settings
        with writer_lock(settings):
            self.warehouse.prepare_build()
            con = open_file(settings.build_db)
            try:
                report = edit(con)
                con.execute("checkpoint warehouse")
            finally:
                con.close()
            audit = rebuild(settings, "")
            compact_duckdb(settings.build_db)
            if terms:
                con = open_read_only(settings.build_db)
                try:
                    id_columns = self._id_columns()
                    scans = scan_tables(con, terms, id_columns=id_columns, parents=id_columns.parent)
                    left = {s.table: s.hits for s in scans if s.hits}
                finally:
                    con.close()
                byte_hits = scan_bytes(settings.build_db, terms)
                if left or byte_hits:
                    raise PublishBlocked(
                        f"the rebuilt warehouse still holds the person: {left or ''} {byte_hits} byte hits"
                    )
            self.warehouse.publish()
            self._clean_build_folder()
        report["tests_passed"] = audit.tests_passed
        return report

    def _clean_build_folder(self) -> None:
        """Nothing of a build may stay behind: a WAL, a compaction temp file, an earlier failed build."""
        build_db = self.settings.build_db
        folder = build_db.parent
        for path in folder.glob(f"{build_db.name}*"):
            path.unlink(missing_ok=True)
        for path in folder.glob(f".{build_db.name}*"):
            path.unlink(missing_ok=True)


def _erase_in_build(
    matches: dict[tuple[str, str], RawMatch],
    people: PersonSourceMatch,
    terms: list[str],
    config: PersonSourcesConfig,
    hashes: list[tuple[str, str]],
    id_columns: IdentifierColumns,
) -> Callable[[duckdb.DuckDBPyConnection], dict[str, Any]]:
    """The edit of the build copy; `id_columns` names the raw and loader tables' identifier columns (the
    only ones an exact term is compared with, id_columns.py) and the child tables of a loader and of the demo
    raw contract (an order's lines, deleted through their order before the order goes)."""

    def edit(con: duckdb.DuckDBPyConnection) -> dict[str, Any]:
        deleted: dict[str, int] = {}
        for (source, table), match in matches.items():
            if not match.ids:
                continue
            relation = f'"raw_{source}"."{table}"'
            ids = ", ".join("'" + str(i).replace("'", "''") + "'" for i in match.ids)
            removed = con.execute(
                f'delete from {relation} where cast("{match.raw.raw_id}" as varchar) in ({ids}) returning 1'
            ).fetchall()
            deleted[f"raw_{source}.{table}"] = len(removed)
        existing = set(tables_of(con))
        if people.rows:
            for landing in ("records", "external_ids"):
                if ("raw_person_sources", landing) in existing:
                    removed = con.execute(
                        f"delete from raw_person_sources.{landing} "
                        f"where {person_rows_condition(people.rows)} returning 1"
                    ).fetchall()
                    deleted[f"raw_person_sources.{landing}"] = len(removed)
        # A declared person-source table inside the warehouse file: by its record-id column too.
        for declared in config.sources:
            record_ids = sorted(people.record_ids.get((declared.name, declared.table_label), set()))
            schema, _, table = str(declared.table).partition(".")
            if declared.table is None or not record_ids or (schema, table) not in existing:
                continue
            quoted = ", ".join("'" + i.replace("'", "''") + "'" for i in record_ids)
            removed = con.execute(
                f'delete from "{schema}"."{table}" '
                f'where trim(cast("{declared.record_id}" as varchar)) in ({quoted}) returning 1'
            ).fetchall()
            if removed:
                deleted[f"{schema}.{table}"] = len(removed)
        existing_tables = tables_of(con)
        # Deleting rows changes no table's columns: read them all once.
        known = catalog_columns(con, schemas={schema for schema, _ in existing_tables})
        for schema, table in children_first(existing_tables, id_columns.parent):
            if table == SUPPRESSION_TABLE:
                continue
            through = parent_condition(con, schema, table, terms, id_columns, id_columns.parent, known=known)
            removed_count = delete_matching(
                con,
                schema,
                table,
                terms,
                extra=through,
                id_columns=id_columns(schema, table),
                columns=known_columns(con, known, schema, table),
            )
            if removed_count:
                name = f"{schema}.{table}" if schema != "main" else table
                deleted[name] = deleted.get(name, 0) + removed_count
        write_suppression_table(con, hashes)
        return {"deleted_rows": deleted}

    return edit


def _open_loader_file(name: str, path: Path, *, read_only: bool = False) -> duckdb.DuckDBPyConnection:
    try:
        return open_file(path, read_only=read_only)
    except (duckdb.IOException, duckdb.ResourceInUseException) as exc:
        if isinstance(exc, duckdb.IOException) and "lock" not in str(exc).lower():
            raise  # not another process's lock: permissions, a damaged file, …
        raise SourceBusy(
            f"the loader's database file {name} ({path}) is held by another process (its loader writing it?): "
            "run the request again once it is free"
        ) from None


def _erase_in_loader_file(
    name: str,
    path: Path,
    sources: list[LoaderSource],
    terms: list[str],
    id_columns: IdentifierColumns,
    into: dict[str, int] | None = None,
) -> dict[str, int]:
    """The person's rows out of the loader tables of `sources` in a loader's own file, children first, and
    the file rewritten without free blocks while this process still holds it; {name:schema.table: rows}.
    Also rewritten when nothing is left to delete but the file's bytes still hold a term (an erase killed
    between its delete and the rewrite). The bytes are read before DuckDB opens the file: closing another
    descriptor of a file drops this process's locks on it. Each delete is counted in `into` as soon as it
    is made (it stays made if a later one, or the rewrite, fails)."""
    residue = scan_bytes(path, terms) > 0
    con = _open_loader_file(name, path)
    deleted: dict[str, int] = {}
    try:
        held = [(s, t) for s, t in tables_of(con) if any(source.holds(s, t) for source in sources)]
        for schema, table in children_first(held, id_columns.parent):
            through = parent_condition(con, schema, table, terms, id_columns, id_columns.parent)
            removed = delete_matching(
                con, schema, table, terms, extra=through, id_columns=id_columns(schema, table)
            )
            if removed:
                deleted[f"{name}:{schema}.{table}"] = removed
                if into is not None:
                    into[f"{name}:{schema}.{table}"] = removed
        if deleted or residue:
            rewrite_duckdb_in_place(con, path)
    finally:
        con.close()
    return deleted
