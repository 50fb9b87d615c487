"""Erasure, access export and suppression on the Postgres target: the warehouse-specific half.

Postgres write-audit-publish (orchestration/warehouse.py): models build into the build schema, which starts
as a copy of the published one and replaces it by renames in one transaction; the raw schemas
(`raw_<source>`, `raw_person_sources`) and `retained` are live tables outside that swap. So an erase
deletes the person's rows from the live raw tables and from the build schema's copies in one transaction,
rebuilds the build schema with dbt, VACUUMs (FULL) every table it deleted from, scans every table of every
Tessera schema, and publishes only on zero hits; the old published schema is dropped by the publish.

What the SQL scan cannot see: dead tuples in heap pages (hence VACUUM FULL, which rewrites a table into new
files), the write-ahead log and its archive, replicas and backups. A client cannot read Postgres's data
files, so there is no byte-level scan here (docs/privacy.md).
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterator
from typing import Any

from orchestration.person_sources.config import PersonSourcesConfig
from orchestration.privacy import probable
from orchestration.privacy.cluster import NoWarehouse, PersonSourceMatch, RawMatch, person_rows_condition
from orchestration.privacy.id_columns import identifier_columns
from orchestration.privacy.loaders import LoaderSource, loader_sources, loader_tables, split_reach
from orchestration.privacy.probable import ProbableHit, Traits
from orchestration.privacy.scan import (
    TableScan,
    children_first,
    columns_of,
    delete_matching,
    match_condition,
    parent_condition,
    scan_tables,
)
from orchestration.settings import Settings

log = logging.getLogger(__name__)

SUPPRESSION_TABLE = "privacy_suppression_list"
RETAINED_SCHEMA = "retained"


def _ident(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _quote(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


class PgSession:
    """A psycopg2 connection answering the DuckDB-style calls the privacy code makes: `?` parameters,
    execute() returning a cursor (fetchone, fetchall, description, rowcount). A list parameter of
    `unnest(?)` is typed text[], so an empty list works too."""

    def __init__(self, con: Any, schema: str | None = None) -> None:
        self.con = con
        if schema is not None:
            with con.cursor() as cur:
                cur.execute(f"set search_path to {_ident(schema)}, public")

    def execute(self, sql: str, params: list[Any] | tuple[Any, ...] | None = None) -> Any:
        cur = self.con.cursor()
        if params:
            # psycopg2 reads % as a placeholder only when parameters are given.
            sql = sql.replace("unnest(?)", "unnest(cast(? as text[]))").replace("?", "%s")
            cur.execute(sql, [list(p) if isinstance(p, tuple | set) else p for p in params])
        else:
            cur.execute(sql)
        return cur


def connect(settings: Settings) -> Any:
    import psycopg2

    return psycopg2.connect(**settings.postgres.connect_kwargs())


@contextlib.contextmanager
def published_session(settings: Settings) -> Iterator[PgSession]:
    """A read session on the published schema (one snapshot: repeatable read, read only)."""
    con = connect(settings)
    try:
        con.set_session(isolation_level="REPEATABLE READ", readonly=True)
        if not schema_exists(PgSession(con), settings.postgres.published_schema):
            raise NoWarehouse(
                f"there is no published schema {settings.postgres.published_schema!r} in database "
                f"{settings.postgres.database!r}: run a build first"
            )
        yield PgSession(con, settings.postgres.published_schema)
    finally:
        con.rollback()
        con.close()


def schema_exists(session: PgSession, schema: str) -> bool:
    return bool(
        session.execute(
            "select 1 from information_schema.schemata where schema_name = ?", [schema]
        ).fetchall()
    )


def tessera_schemas(session: PgSession, settings: Settings, extra: list[str] | None = None) -> list[str]:
    """Every schema Tessera writes in this database: the published and build schemas (and a `__previous`
    a failed publish left), their masked views, every raw_ schema, retained, and the schemas of declared
    person-source tables (`extra`)."""
    published, build = settings.postgres.published_schema, settings.postgres.build_schema
    names = {
        published,
        build,
        f"{published}__previous",
        f"{published}_masked",
        f"{build}_masked",
        RETAINED_SCHEMA,
        *(extra or []),
    }
    rows = session.execute(
        "select schema_name from information_schema.schemata "
        "where left(schema_name, 4) = 'raw_' or schema_name = any(?) order by 1",
        [sorted(names)],
    ).fetchall()
    return [name for (name,) in rows]


def model_schemas(settings: Settings) -> list[str]:
    """The schemas Tessera's models are built and published in (their tables' identifier columns are
    declared in the models' YAML, id_columns.py)."""
    published = settings.postgres.published_schema
    return [published, settings.postgres.build_schema, f"{published}__previous"]


def base_tables(session: PgSession, schemas: list[str]) -> list[tuple[str, str]]:
    rows = session.execute(
        "select table_schema, table_name from information_schema.tables "
        "where table_type = 'BASE TABLE' and table_schema = any(?) order by 1, 2",
        [schemas],
    ).fetchall()
    return [(schema, table) for schema, table in rows]


def person_source_table_schemas(config: PersonSourcesConfig) -> list[str]:
    return sorted({str(s.table).partition(".")[0] for s in config.sources if s.table is not None})


def reached_loaders(settings: Settings) -> tuple[list[LoaderSource], list[LoaderSource]]:
    """The declared sources read in place (orchestration/privacy/loaders.py): (in this database, elsewhere)."""
    return split_reach(loader_sources(settings), settings.postgres.database)


def loader_base_tables(session: PgSession, settings: Settings) -> list[tuple[str, str]]:
    """The base tables of the in-place sources this connection reaches (their schema and prefix)."""
    reached, _ = reached_loaders(settings)
    if not reached:
        return []
    return loader_tables(base_tables(session, sorted({s.schema for s in reached})), reached)


def scanned_tables(session: PgSession, settings: Settings, schemas: list[str]) -> list[tuple[str, str]]:
    """Every base table of `schemas` and of the in-place sources, once each."""
    tables = base_tables(session, schemas)
    return tables + [t for t in loader_base_tables(session, settings) if t not in tables]


def scan(
    settings: Settings,
    terms: list[str],
    extra_schemas: list[str] | None = None,
    *,
    before_publish: bool = False,
) -> list[TableScan]:
    """Rows holding any term in every base table of every Tessera schema (one snapshot). Before publishing,
    the published schema (which the publish drops) is left out: the build schema replaces it."""
    con = connect(settings)
    try:
        con.set_session(isolation_level="REPEATABLE READ", readonly=True)
        session = PgSession(con)
        schemas = tessera_schemas(session, settings, extra_schemas)
        if before_publish:
            published = settings.postgres.published_schema
            schemas = [
                s for s in schemas if s not in (published, f"{published}__previous", f"{published}_masked")
            ]
        id_columns = identifier_columns(settings, model_schemas(settings))
        return scan_tables(
            session,
            terms,
            tables=scanned_tables(session, settings, schemas),
            id_columns=id_columns,
            parents=id_columns.parent,
        )
    finally:
        con.rollback()
        con.close()


def scan_probable(
    settings: Settings, traits: Traits, extra_schemas: list[str] | None = None
) -> list[ProbableHit]:
    """The subject's rare names and street lines (probable.py) in every base table of every Tessera schema."""
    if traits.empty:
        return []
    con = connect(settings)
    try:
        con.set_session(isolation_level="REPEATABLE READ", readonly=True)
        session = PgSession(con)
        tables = scanned_tables(session, settings, tessera_schemas(session, settings, extra_schemas))
        return probable.scan_tables(session, traits, tables, "postgres")
    finally:
        con.rollback()
        con.close()


def write_suppression_table(session: PgSession, schema: str, hashes: list[tuple[str, str]]) -> None:
    """The list staging reads (stg_privacy__suppressed_identifiers), replaced within the caller's transaction."""
    import psycopg2.extras

    session.execute(f"create schema if not exists {_ident(schema)}")
    session.execute(f"drop table if exists {_ident(schema)}.{SUPPRESSION_TABLE}")
    session.execute(
        f"create table {_ident(schema)}.{SUPPRESSION_TABLE} (identifier_type text, identifier_hash text)"
    )
    if hashes:
        with session.con.cursor() as cur:
            psycopg2.extras.execute_values(
                cur, f"insert into {_ident(schema)}.{SUPPRESSION_TABLE} values %s", [tuple(h) for h in hashes]
            )


def delete_in_warehouse(
    settings: Settings,
    config: PersonSourcesConfig,
    matches: dict[tuple[str, str], RawMatch],
    people: PersonSourceMatch,
    terms: list[str],
    hashes: list[tuple[str, str]],
) -> tuple[dict[str, int], dict[str, str], dict[str, str]]:
    """In one transaction: the person's rows out of the live raw tables (by record id, then by term, a child
    table's rows through their parent row first), out of every table of the build schema, retained, the
    declared person-source tables and the tables of the sources read in place
    (orchestration/privacy/loaders.py); the suppression list into the build schema.
    Returns rows deleted per table, and per declared person-source table and per loader table a note when
    Tessera may not delete there (the owner must)."""
    from psycopg2 import errors

    build = settings.postgres.build_schema
    id_columns = identifier_columns(settings, model_schemas(settings))
    deleted: dict[str, int] = {}
    notes: dict[str, str] = {}
    con = connect(settings)
    try:
        session = PgSession(con)
        for (source, table), match in matches.items():
            if not match.ids:
                continue
            ids = ", ".join(_quote(str(i)) for i in match.ids)
            cur = session.execute(
                f"delete from {_ident('raw_' + source)}.{_ident(table)} "
                f"where cast({_ident(match.raw.raw_id)} as varchar) in ({ids})"
            )
            deleted[f"raw_{source}.{table}"] = cur.rowcount
        if people.rows:
            for landing in ("records", "external_ids"):
                cur = session.execute(
                    f"delete from raw_person_sources.{landing} where {person_rows_condition(people.rows)}"
                )
                deleted[f"raw_person_sources.{landing}"] = cur.rowcount
        schemas = [
            s
            for s in tessera_schemas(session, settings)
            if s in (build, RETAINED_SCHEMA) or s.startswith("raw_")
        ]
        # A demo raw table's child (raw_shop.order_items) goes before its parent, found through it.
        for schema, table in children_first(base_tables(session, schemas), id_columns.parent):
            if table == SUPPRESSION_TABLE:
                continue
            through = parent_condition(session, schema, table, terms, id_columns, id_columns.parent)
            removed = delete_matching(
                session, schema, table, terms, extra=through, id_columns=id_columns(schema, table)
            )
            if removed:
                name = f"{schema}.{table}"
                deleted[name] = deleted.get(name, 0) + removed
        for declared in config.sources:
            if declared.table is None:
                continue
            record_ids = sorted(people.record_ids.get((declared.name, declared.table_label), set()))
            schema, _, table = str(declared.table).partition(".")
            removed, note = _delete_in_declared_table(
                session, schema, table, declared.record_id, record_ids, terms, errors
            )
            if removed:
                deleted[f"{schema}.{table}"] = deleted.get(f"{schema}.{table}", 0) + removed
            if note:
                notes[f"{declared.name}.{declared.table_label}"] = note
        loader_notes: dict[str, str] = {}
        # A child table (an order's lines) goes first: its rows are found through their parent rows.
        for schema, table in children_first(loader_base_tables(session, settings), id_columns.parent):
            through = parent_condition(session, schema, table, terms, id_columns, id_columns.parent)
            removed, note = _delete_in_declared_table(
                session, schema, table, "", [], terms, errors, id_columns(schema, table), through
            )
            if removed:
                deleted[f"{schema}.{table}"] = deleted.get(f"{schema}.{table}", 0) + removed
            if note:
                loader_notes[f"{schema}.{table}"] = note
        write_suppression_table(session, build, hashes)
        con.commit()
    except Exception:
        con.rollback()
        raise
    finally:
        con.close()
    return deleted, notes, loader_notes


def _delete_in_declared_table(
    session: PgSession,
    schema: str,
    table: str,
    record_id: str,
    ids: list[str],
    terms: list[str],
    errors: Any,
    id_columns: frozenset[str] | None = None,
    through_parent: str | None = None,
) -> tuple[int, str | None]:
    """A declared person-source table (or a loader's table) is the customer's own table, read in place by
    every load: the person's rows go there too, or they come back with the next load. Without the right to
    delete, say so. `id_columns`: a loader table's identifier columns (id_columns.py); `through_parent`: a
    loader's child table's rows whose parent row is the person's (scan.parent_condition)."""
    columns = columns_of(session, schema, table)
    if not columns:
        return 0, f"table {schema}.{table} does not exist"
    parts = [c for c in (match_condition(columns, terms, id_columns), through_parent) if c]
    if ids:
        parts.append(f"trim(cast({_ident(record_id)} as varchar)) in ({', '.join(_quote(i) for i in ids)})")
    if not parts:
        return 0, None
    relation = f"{_ident(schema)}.{_ident(table)}"
    session.execute("savepoint declared_table")
    try:
        cur = session.execute(f"delete from {relation} where {' or '.join(f'({p})' for p in parts)}")
    except errors.InsufficientPrivilege:
        session.execute("rollback to savepoint declared_table")
        (count,) = session.execute(
            f"select count(*) from {relation} where {' or '.join(f'({p})' for p in parts)}"
        ).fetchone()
        return 0, (
            f"{count} row(s) of the person in {schema}.{table}: Tessera may not delete there, its owner must "
            "(until then each load quarantines them as suppressed)"
        )
    session.execute("release savepoint declared_table")
    return int(cur.rowcount), None


def vacuum_full(settings: Settings, tables: list[str]) -> list[str]:
    """VACUUM FULL each table (`schema.table`) that still exists: deleted tuples stay in heap pages until a
    vacuum reuses them; FULL rewrites the table and its indexes into new files and frees the old ones."""
    con = connect(settings)
    done = []
    try:
        con.autocommit = True  # VACUUM cannot run inside a transaction block
        session = PgSession(con)
        for name in sorted(set(tables)):
            schema, _, table = name.partition(".")
            if not session.execute(
                "select 1 from information_schema.tables where table_schema = ? and table_name = ? "
                "and table_type = 'BASE TABLE'",
                [schema, table],
            ).fetchall():
                continue
            session.execute(f"vacuum full {_ident(schema)}.{_ident(table)}")
            done.append(name)
    finally:
        con.close()
    return done


def dead_tuples(settings: Settings, tables: list[str]) -> dict[str, int]:
    """pg_stat's count of dead tuples per table (approximate statistics, for reports and tests)."""
    con = connect(settings)
    try:
        session = PgSession(con)
        rows = session.execute(
            "select schemaname || '.' || relname, n_dead_tup from pg_stat_user_tables "
            "where schemaname || '.' || relname = any(?)",
            [sorted(set(tables))],
        ).fetchall()
        return {name: int(count) for name, count in rows}
    finally:
        con.close()
