"""Erasure, access export and suppression on DuckDB files: the warehouse-specific half.

DuckDB write-audit-publish: the build file starts as a copy of the published file and replaces it by a
rename. So an erase edits the build copy (the person's rows out of every raw, carried-forward and model
table, the suppression list in), rebuilds and tests it with dbt, rewrites the file so no deleted row
survives in free blocks, scans every table and the file's bytes, and publishes only on zero hits.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from typing import Any

import duckdb

from orchestration.person_sources.config import PersonSourcesConfig
from orchestration.privacy import probable
from orchestration.privacy.backend import SUPPRESSION_TABLE, rebuild
from orchestration.privacy.cluster import NoWarehouse, PersonSourceMatch, RawMatch, person_rows_condition
from orchestration.privacy.files import compact_duckdb
from orchestration.privacy.id_columns import IdentifierColumns, identifier_columns
from orchestration.privacy.loaders import LoaderSource, loader_sources, split_reach, unreached_notes
from orchestration.privacy.probable import ProbableHit, Traits
from orchestration.privacy.scan import (
    TableScan,
    children_first,
    delete_matching,
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
        edit = _erase_in_build(
            matches,
            people,
            terms,
            config,
            hashes,
            identifier_columns(self.settings, (self.published_schema,)),
        )
        report = self._rebuild_and_publish(edit, terms)
        # Loader tables in the warehouse file were edited in the copy like every other table; a source in
        # another catalog is out of reach.
        report["loader_notes"] = unreached_notes(self.loader_reach()[1])
        return report

    def loader_reach(self) -> tuple[list[LoaderSource], list[LoaderSource]]:
        """The file reaches the loader schemas inside it: the sources that name no other catalog."""
        return split_reach(loader_sources(self.settings), None)

    def write_suppression_list(self, hashes: list[tuple[str, str]]) -> str:
        def edit(con: duckdb.DuckDBPyConnection) -> dict[str, Any]:
            write_suppression_table(con, hashes)
            return {}

        self._rebuild_and_publish(edit, [])
        return "rebuilt and published with the new suppression list"

    def scan_published(self, terms: list[str], config: PersonSourcesConfig) -> list[TableScan]:
        con = open_read_only(self.settings.published_db)
        try:
            id_columns = identifier_columns(self.settings, (self.published_schema,))
            return scan_tables(con, terms, id_columns=id_columns, parents=id_columns.parent)
        finally:
            con.close()

    def prove_published(
        self, terms: list[str], config: PersonSourcesConfig
    ) -> tuple[dict[str, int], int, dict[str, int], dict[str, int]]:
        """Every table of the published file (SQL) and the file's bytes. The byte scan looks for substring
        terms only (scan.byte_terms), so another person's order id equal to a short term is no byte hit."""
        path = self.settings.published_db
        if not path.exists():
            return {}, 0, {}, {}
        scans = self.scan_published(terms, config)
        tables = {f"warehouse:{scan.table}": scan.hits for scan in scans}
        outside = {f"warehouse:{scan.table}": scan.outside for scan in scans if scan.outside}
        return tables, sum(scan.rows for scan in scans), {str(path): scan_bytes(path, terms)}, outside

    def probe_published(self, traits: Traits, config: PersonSourcesConfig) -> list[ProbableHit]:
        if traits.empty or not self.settings.published_db.exists():
            return []
        con = open_read_only(self.settings.published_db)
        try:
            return probable.scan_tables(con, traits, tables_of(con), "warehouse")
        finally:
            con.close()

    def proof_notes(self) -> dict[str, str]:
        unreached = unreached_notes(self.loader_reach()[1])
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
                    id_columns = identifier_columns(settings, (self.published_schema,))
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
        for schema, table in children_first(tables_of(con), id_columns.parent):
            if table == SUPPRESSION_TABLE:
                continue
            through = parent_condition(con, schema, table, terms, id_columns, id_columns.parent)
            removed_count = delete_matching(
                con, schema, table, terms, extra=through, id_columns=id_columns(schema, table)
            )
            if removed_count:
                name = f"{schema}.{table}" if schema != "main" else table
                deleted[name] = deleted.get(name, 0) + removed_count
        write_suppression_table(con, hashes)
        return {"deleted_rows": deleted}

    return edit
