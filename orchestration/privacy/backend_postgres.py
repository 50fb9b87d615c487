"""Erasure, access export and suppression on Postgres: the backend around orchestration/privacy/postgres.py
(which holds the SQL; its docstring says what the scan cannot see)."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

from orchestration.person_sources.config import PersonSourcesConfig
from orchestration.privacy import postgres as pg
from orchestration.privacy.backend import SUPPRESSION_TABLE, rebuild
from orchestration.privacy.cluster import EraseIncomplete, PersonSourceMatch, RawMatch
from orchestration.privacy.loaders import LoaderSource, unreached_notes
from orchestration.privacy.probable import ProbableHit, Traits
from orchestration.privacy.scan import TableScan
from orchestration.settings import Settings
from orchestration.sync.project import sync_location
from orchestration.sync.stores import state_schemas
from orchestration.warehouse.audit import PublishBlocked
from orchestration.warehouse.connection import writer_lock
from orchestration.warehouse.interface import Warehouse


def write_suppression_table_postgres(settings: Settings, hashes: list[tuple[str, str]]) -> None:
    """The list in the published Postgres schema, replaced in one transaction; the next build copies it
    into the build schema with the other published tables, and its staging quarantines the rows."""
    import psycopg2
    import psycopg2.extras

    schema = settings.postgres.published_schema
    with psycopg2.connect(**settings.postgres.connect_kwargs()) as con, con.cursor() as cur:
        cur.execute(f'create schema if not exists "{schema}"')
        cur.execute(f'drop table if exists "{schema}".{SUPPRESSION_TABLE}')
        cur.execute(
            f'create table "{schema}".{SUPPRESSION_TABLE} (identifier_type text, identifier_hash text)'
        )
        if hashes:
            psycopg2.extras.execute_values(
                cur, f'insert into "{schema}".{SUPPRESSION_TABLE} values %s', [tuple(h) for h in hashes]
            )


class PostgresErasure:
    """Live raw schemas beside a build schema that replaces the published one by renames."""

    name = "postgres"
    publish_detail = "published"
    publish_refreshes_masked_file = False

    def __init__(self, settings: Settings, warehouse: Warehouse):
        self.settings = settings
        self.warehouse = warehouse

    @property
    def published_schema(self) -> str:
        return self.settings.postgres.published_schema

    def check_published(self) -> None:
        with pg.published_session(self.settings):
            pass  # raises NoWarehouse when nothing is published

    @contextlib.contextmanager
    def published_session(self) -> Iterator[pg.PgSession]:
        with pg.published_session(self.settings) as session:
            yield session

    def loader_file_sessions(self) -> contextlib.nullcontext[list[tuple[str, Any, list[LoaderSource]]]]:
        """None: a Postgres database is the server's own; a loader's tables are reached through it."""
        return contextlib.nullcontext([])

    def erase(
        self,
        matches: dict[tuple[str, str], RawMatch],
        people: PersonSourceMatch,
        terms: list[str],
        config: PersonSourcesConfig,
        hashes: list[tuple[str, str]],
    ) -> dict[str, Any]:
        """Write-audit-publish on Postgres: the build schema starts as a copy of the published one; the
        person's rows leave the live raw tables and the copy in one transaction; dbt rebuilds and tests the
        build schema; every table deleted from is vacuumed (FULL); every table of every Tessera schema is
        scanned; the build schema is published only on zero hits (the old published schema is dropped by
        the publish)."""
        settings = self.settings
        extra = pg.person_source_table_schemas(config)
        with writer_lock(settings):
            self.warehouse.prepare_build()
            deleted, notes, loader_notes = pg.delete_in_warehouse(
                settings, config, matches, people, terms, hashes
            )
            vacuumed: list[str] = []
            try:
                audit = rebuild(settings, "")
                touched = [name for name, count in deleted.items() if count]
                vacuumed = pg.vacuum_full(settings, touched)
                if terms:
                    left = {
                        s.table: s.hits
                        for s in pg.scan(settings, terms, extra, before_publish=True)
                        if s.hits
                    }
                    if left:
                        raise PublishBlocked(f"the rebuilt warehouse still holds the person: {left}")
                self.warehouse.publish()
            except Exception as exc:
                raise _incomplete(settings, exc, deleted, vacuumed) from exc
        return {
            "deleted_rows": deleted,
            "tests_passed": audit.tests_passed,
            "vacuumed": vacuumed,
            "notes": notes,
            "loader_notes": loader_notes | unreached_notes(pg.reached_loaders(settings)[1]),
        }

    def write_suppression_list(self, hashes: list[tuple[str, str]]) -> str:
        with writer_lock(self.settings):
            write_suppression_table_postgres(self.settings, hashes)
        return "list written; it takes effect at the next build"

    def scan_published(self, terms: list[str], config: PersonSourcesConfig) -> list[TableScan]:
        """Every table of every Tessera schema (the live raw schemas and the sync state too), in one snapshot."""
        extra = pg.person_source_table_schemas(config) + state_schemas(sync_location(self.settings))
        return pg.scan(self.settings, terms, extra)

    def prove_published(
        self, terms: list[str], config: PersonSourcesConfig
    ) -> tuple[dict[str, int], int, dict[str, int], dict[str, int]]:
        """The SQL scan only: a client cannot read Postgres's data files."""
        scans = self.scan_published(terms, config)
        tables = {f"postgres:{scan.table}": scan.hits for scan in scans}
        outside = {f"postgres:{scan.table}": scan.outside for scan in scans if scan.outside}
        return tables, sum(s.rows for s in scans), {}, outside

    def loader_reach(self) -> tuple[list[LoaderSource], list[LoaderSource]]:
        """The loader schemas in this database, and those in another."""
        return pg.reached_loaders(self.settings)

    def probe_published(self, traits: Traits, config: PersonSourcesConfig) -> list[ProbableHit]:
        """Every table of every Tessera schema, as scan_published."""
        extra = pg.person_source_table_schemas(config) + state_schemas(sync_location(self.settings))
        return pg.scan_probable(self.settings, traits, extra)

    def proof_notes(self) -> dict[str, str]:
        unreached = unreached_notes(pg.reached_loaders(self.settings)[1])
        return {
            "not_scanned": (
                "Postgres data files: a client cannot read them. Every table deleted from was vacuumed (FULL) "
                "into new files; the write-ahead log, replicas and backups are outside Tessera's reach."
                + "".join(f" Loader tables: {note}." for note in unreached.values())
            )
        }


def _incomplete(
    settings: Settings, failure: Exception, deleted: dict[str, int], vacuumed: list[str]
) -> Exception:
    """What a failure after the erase's transaction committed leaves: the rows it deleted outside the build
    schema are gone from those tables. Each such table is vacuumed (FULL) now, unless it was already: the
    run that finishes the request deletes nothing more there, so it would not. The failure becomes
    EraseIncomplete counting those rows, and the ledger keeps them for the run that finishes the request.
    The live tables (the retained aggregates, the declared source tables, the loaders' tables) keep them
    deleted, as no build puts them back; the raw_* tables are reloaded from the landing and person-source
    files by any build before then (the erase rewrites those files after this step), so the finishing run
    may count them again, and the ledger keeps the larger count (erase.py, _summed). The failure itself
    when nothing outside the build schema lost a row."""
    build = f"{settings.postgres.build_schema}."
    outside = {name: count for name, count in deleted.items() if count and not name.startswith(build)}
    if not outside:
        return failure
    try:
        pg.vacuum_full(settings, [name for name in outside if name not in vacuumed])
        state = "vacuumed (FULL)"
    except Exception as vacuum_failure:  # reported with the failure that matters, which it must not hide
        state = f"not vacuumed ({type(vacuum_failure).__name__}: run VACUUM FULL on them)"
    return EraseIncomplete(
        f"{failure} ({sum(outside.values())} rows were deleted from {len(outside)} tables outside the build "
        f"already, {state}; those of the live tables stay deleted: run the erase again to finish it)",
        outside,
    )
