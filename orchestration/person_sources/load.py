"""Loading declared person sources into raw_person_sources.records and .external_ids.

Every configured file or warehouse table lands in the same two tables, its columns renamed to
the standard identity fields and kept as text exactly as they arrived (normalising and checking is
staging's job: models/staging/person_sources/). Each row keeps its original columns as JSON, and
a CSV line DuckDB cannot parse (too many or too few fields, bad quoting, invalid UTF-8) still lands,
as a row carrying its load error, so that staging quarantines it rather than it being lost.
Every declaration is checked against its file or table before anything is loaded.
"""

from __future__ import annotations

import csv
import datetime as dt
import logging
import os
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import duckdb
import pyarrow.parquet as pq

from orchestration.person_sources.config import (
    STANDARD_FIELDS,
    PersonSource,
    PersonSourceConfigError,
    PersonSourcesConfig,
    check_columns,
    load_config,
)
from orchestration.settings import Settings

log = logging.getLogger(__name__)

SCHEMA = "raw_person_sources"

#: The landing tables, as (column, type) pairs; types are the portable subset of both warehouses.
RECORD_COLUMNS: list[tuple[str, str]] = [
    ("source_name", "varchar"),
    ("table_name", "varchar"),
    ("record_id", "varchar"),
    ("row_number", "bigint"),
    *[(field, "varchar") for field in STANDARD_FIELDS],
    ("observed_at", "varchar"),
    ("external_id_count", "integer"),
    ("load_error", "varchar"),
    ("raw_record", "varchar"),
    ("source_priority", "integer"),
    ("default_country", "varchar"),
    ("date_format", "varchar"),
    ("file_modified_at", "timestamp"),
    ("_loaded_at", "timestamp"),
]
EXTERNAL_ID_COLUMNS: list[tuple[str, str]] = [
    ("source_name", "varchar"),
    ("table_name", "varchar"),
    ("record_id", "varchar"),
    ("row_number", "bigint"),
    ("identifier_type", "varchar"),
    ("identifier_value", "varchar"),
    ("type_priority", "integer"),
    ("type_max_per_customer", "integer"),
    ("type_max_group_size", "integer"),
    ("type_description", "varchar"),
    ("_loaded_at", "timestamp"),
]


#: What is not a landing row's content, for keeping its first load time (_keep_first_load_times): where
#: it sits in its file, when the file was saved, and the load time itself.
NOT_CONTENT = frozenset({"row_number", "file_modified_at", "_loaded_at"})
LANDING_TABLES = {"records": RECORD_COLUMNS, "external_ids": EXTERNAL_ID_COLUMNS}
EARLIER = "__earlier"


class PersonSourceLoadError(RuntimeError):
    """A declared file or table could not be read at all (missing, empty, not a CSV/Parquet file)."""


def _ident(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _literal(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, dt.datetime):
        return f"cast('{value.isoformat(sep=' ')}' as timestamp)"
    return "'" + str(value).replace("'", "''") + "'"


def _ddl(table: str, columns: list[tuple[str, str]]) -> str:
    return f"create table {SCHEMA}.{table} ({', '.join(f'{name} {kind}' for name, kind in columns)})"


def _text(column: str | None) -> str:
    return "null" if column is None else f"cast({_ident(column)} as varchar)"


def _file_modified_at(source: PersonSource) -> dt.datetime | None:
    if source.file is None:
        return None
    return dt.datetime.fromtimestamp(os.stat(source.file).st_mtime, dt.UTC).replace(tzinfo=None)


def _insert_records_sql(
    source: PersonSource, staged: str, loaded_at: dt.datetime, modified_at: dt.datetime | None
) -> str:
    """The landing rows of one source, from the staged copy `staged` (with __row and __json)."""
    mapped = source.fields.mapped()
    values = [
        _literal(source.name),
        _literal(source.table_label),
        _text(source.record_id),
        "__row",
        *[_text(mapped.get(field)) for field in STANDARD_FIELDS],
        _text(source.observed_at),
        " + ".join(
            [
                f"case when nullif(trim({_text(c)}), '') is null then 0 else 1 end"
                for c in source.external_ids.values()
            ]
            or ["0"]
        ),
        "null",
        "__json",
        _literal(source.priority),
        _literal(source.default_country),
        _literal(source.date_format),
        _literal(modified_at),
        _literal(loaded_at),
    ]
    return f"insert into {SCHEMA}.records select {', '.join(values)} from {staged}"


def _insert_external_ids_sql(
    source: PersonSource, config: PersonSourcesConfig, staged: str, loaded_at: dt.datetime
) -> list[str]:
    statements = []
    for id_type, column in source.external_ids.items():
        settings = config.type_settings(id_type)
        value = _text(column)
        values = [
            _literal(source.name),
            _literal(source.table_label),
            _text(source.record_id),
            "__row",
            _literal(id_type),
            value,
            _literal(settings.priority if settings else None),
            _literal(settings.max_per_customer if settings else None),
            _literal(settings.max_group_size if settings else None),
            _literal(
                (settings.description if settings else None) or f"{id_type} (declared in a person source)"
            ),
            _literal(loaded_at),
        ]
        statements.append(
            f"insert into {SCHEMA}.external_ids select {', '.join(values)} from {staged} "
            f"where nullif(trim({value}), '') is not null"
        )
    return statements


def _csv_header(source: PersonSource) -> list[str]:
    """The header line of a CSV file, read exactly (DuckDB's dialect sniffer can be thrown by the
    very malformed lines we want to quarantine, so nothing about the file is guessed)."""
    assert source.file is not None
    try:
        with open(source.file, newline="", encoding="utf-8-sig") as handle:
            header = next(csv.reader(handle, delimiter=source.delimiter or ","), None)
    except (OSError, UnicodeDecodeError, csv.Error) as exc:
        raise PersonSourceLoadError(f"source {source.name!r}: cannot read {source.file}: {exc}") from None
    if not header:
        raise PersonSourceLoadError(f"source {source.name!r}: {source.file} is empty (no header line)")
    duplicated = sorted({c for c in header if header.count(c) > 1})
    if duplicated or any(not c.strip() for c in header):
        raise PersonSourceLoadError(
            f"source {source.name!r}: the header of {source.file} has "
            + (f"duplicate column names {duplicated}" if duplicated else "an empty column name")
        )
    return header


def _read_csv_call(source: PersonSource, rejects: str, scans: str) -> str:
    columns = "{" + ", ".join(f"{_literal(c)}: 'VARCHAR'" for c in _csv_header(source)) + "}"
    options = [
        f"columns = {columns}",
        "header = true",
        "auto_detect = false",
        f"delim = {_literal(source.delimiter or ',')}",
        "quote = '\"'",
        "escape = '\"'",
        "store_rejects = true",
        f"rejects_table = '{rejects}'",
        f"rejects_scan = '{scans}'",
    ]
    return f"read_csv({_literal(str(source.file))}, {', '.join(options)})"


def file_columns(source: PersonSource) -> list[str]:
    assert source.file is not None
    if not source.file.exists():
        raise PersonSourceLoadError(f"source {source.name!r}: file not found: {source.file}")
    if source.kind == "csv":
        return _csv_header(source)
    try:
        return list(pq.read_schema(source.file).names)
    except (OSError, ValueError) as exc:
        raise PersonSourceLoadError(f"source {source.name!r}: cannot read {source.file}: {exc}") from None


def _stage_file(con: duckdb.DuckDBPyConnection, source: PersonSource, index: int) -> tuple[str, int]:
    """Copy a file into temp table __ps_src_<index> (__row = position, __json = the row as it
    arrived), and the CSV lines DuckDB rejected into __ps_rej_<index>. Returns (table, rejected)."""
    raw, staged, rejects, scans = (f"__ps_{kind}_{index}" for kind in ("raw", "src", "rej", "scan"))
    reader = (
        f"read_parquet({_literal(str(source.file))})"
        if source.kind == "parquet"
        else _read_csv_call(source, rejects, scans)
    )
    try:
        con.execute(f"create or replace temp table {raw} as select * from {reader}")
    except duckdb.Error as exc:
        raise PersonSourceLoadError(f"source {source.name!r}: cannot read {source.file}: {exc}") from None
    # A temp table keeps the file's order, so rowid is the row's position in the file.
    con.execute(
        f"create or replace temp table {staged} as "
        f"select rowid + 1 as __row, cast(to_json(r) as varchar) as __json, r.* from {raw} as r"
    )
    con.execute(f"drop table {raw}")
    rejected = 0
    if source.kind == "csv":
        # One row per rejected line (DuckDB may report several errors for one line).
        con.execute(
            f"create or replace temp table {rejects}_lines as "
            f"select line, min(cast(error_type as varchar)) as error_type, "
            f"min(trim(csv_line, chr(13) || chr(10))) as csv_line, "
            f"min(error_message) as error_message from {rejects} group by 1"
        )
        rejected = con.execute(f"select count(*) from {rejects}_lines").fetchone()[0]  # type: ignore[index]
    return staged, rejected


def _insert_rejects_sql(
    source: PersonSource, index: int, staged: str, loaded_at: dt.datetime, modified_at: dt.datetime | None
) -> str:
    lines = f"__ps_rej_{index}_lines"
    nulls = ", ".join("null" for _ in STANDARD_FIELDS)
    return (
        f"insert into {SCHEMA}.records select {_literal(source.name)}, {_literal(source.table_label)}, null, "
        f"(select count(*) from {staged}) + row_number() over (order by line), {nulls}, null, 0, "
        f"'malformed CSV line (' || lower(error_type) || ')', "
        f"cast(to_json({{'line': line, 'csv_line': csv_line, 'error': error_message}}) as varchar), "
        f"{_literal(source.priority)}, {_literal(source.default_country)}, {_literal(source.date_format)}, "
        f"{_literal(modified_at)}, {_literal(loaded_at)} from {lines}"
    )


def _check_all(config: PersonSourcesConfig, columns_of: Callable[[PersonSource], list[str]]) -> None:
    for source in config.sources:
        check_columns(source, columns_of(source), file=config.declared_in.get(source.name))


def duckdb_digest(columns: list[str]) -> str:
    """A 64-bit hash of a row's `columns` (nulls equal) on DuckDB."""
    return "hash(row(" + ", ".join(columns) + "))"


def postgres_digest(columns: list[str]) -> str:
    """The same on Postgres (hash_record_extended: Postgres 14 and later)."""
    return "hash_record_extended(row(" + ", ".join(columns) + "), 0)"


def _set_aside_sql(held: dict[str, set[str]]) -> list[str]:
    """The statements that replace the landing tables by empty ones, each earlier table that has every
    column of the current layout kept aside (as <table>__earlier) for _keep_first_load_times; an earlier
    table of another layout is dropped, and its rows count as new once. `held`: the columns of each table
    in the schema now."""
    statements = [f"create schema if not exists {SCHEMA}"]
    for table, columns in LANDING_TABLES.items():
        statements.append(f"drop table if exists {SCHEMA}.{table}{EARLIER}")
        if {name for name, _ in columns} <= held.get(table, set()):
            statements.append(f"alter table {SCHEMA}.{table} rename to {table}{EARLIER}")
        else:
            statements.append(f"drop table if exists {SCHEMA}.{table}")
        statements.append(_ddl(table, columns))
    return statements


def _keep_first_load_times_sql(held: dict[str, set[str]], digest: Callable[[list[str]], str]) -> list[str]:
    """After a load: a landed row whose content (every column but NOT_CONTENT) the earlier table held
    keeps the earliest time that content was landed, as a raw file's rows do (the DuckDB warehouse's
    stamped_rows says why); a new or changed row keeps this load's time. Then the earlier tables go."""
    statements = []
    for table, columns in LANDING_TABLES.items():
        if not {name for name, _ in columns} <= held.get(table, set()):
            continue
        content = [name for name, _ in columns if name not in NOT_CONTENT]
        statements += [
            f"update {SCHEMA}.{table} as landed set _loaded_at = earlier.loaded_at "
            f"from (select {digest(content)} as row_digest, min(_loaded_at) as loaded_at "
            f"from {SCHEMA}.{table}{EARLIER} group by 1) as earlier "
            f"where {digest([f'landed.{name}' for name in content])} = earlier.row_digest "
            "and earlier.loaded_at < landed._loaded_at",
            f"drop table {SCHEMA}.{table}{EARLIER}",
        ]
    return statements


def _held_sql() -> str:
    """The landing schema's tables and columns now (both warehouses' information_schema)."""
    return (
        "select table_name, column_name from information_schema.columns "
        f"where table_catalog = current_database() and table_schema = '{SCHEMA}'"
    )


def _held(rows: list[tuple[str, str]]) -> dict[str, set[str]]:
    held: dict[str, set[str]] = {}
    for table, column in rows:
        held.setdefault(table, set()).add(column)
    return held


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC).replace(tzinfo=None, microsecond=0)


def load_duckdb(con: duckdb.DuckDBPyConnection, settings: Settings) -> dict[str, int]:
    """Check every declaration, then (re)load the landing tables in the DuckDB build file `con`.
    Returns rows loaded per source (`name.table`)."""
    config = load_config(settings)

    def columns_of(source: PersonSource) -> list[str]:
        if source.file is not None:
            return file_columns(source)
        schema, _, table = str(source.table).partition(".")
        rows = con.execute(
            "select column_name from information_schema.columns "
            "where table_catalog = current_database() and table_schema = ? and table_name = ? "
            "order by ordinal_position",
            [schema, table],
        ).fetchall()
        if not rows:
            raise PersonSourceConfigError(
                f"table {source.table} does not exist in the warehouse",
                file=config.declared_in.get(source.name),
                source=source.name,
                key="table",
            )
        return [name for (name,) in rows]

    _check_all(config, columns_of)
    loaded_at = _now()
    held = _held(con.execute(_held_sql()).fetchall())  # type: ignore[arg-type]
    for statement in _set_aside_sql(held):
        con.execute(statement)
    counts: dict[str, int] = {}
    for index, source in enumerate(config.sources):
        modified_at = _file_modified_at(source)
        rejected = 0
        if source.file is not None:
            staged, rejected = _stage_file(con, source, index)
        else:
            staged = f"__ps_src_{index}"
            schema, _, table = str(source.table).partition(".")
            con.execute(
                f"create or replace temp table {staged} as "
                f"select row_number() over () as __row, cast(to_json(t) as varchar) as __json, t.* "
                f"from {_ident(schema)}.{_ident(table)} as t"
            )
        con.execute(_insert_records_sql(source, staged, loaded_at, modified_at))
        if rejected:
            con.execute(_insert_rejects_sql(source, index, staged, loaded_at, modified_at))
        for statement in _insert_external_ids_sql(source, config, staged, loaded_at):
            con.execute(statement)
        rows = con.execute(f"select count(*) from {staged}").fetchone()[0]  # type: ignore[index]
        counts[f"{source.name}.{source.table_label}"] = rows + rejected
        if rejected:
            log.warning("%s: %d malformed CSV line(s) loaded for quarantine", source.name, rejected)
        con.execute(f"drop table {staged}")
    for statement in _keep_first_load_times_sql(held, duckdb_digest):
        con.execute(statement)
    return counts


def load_postgres(pg_con: Any, settings: Settings) -> dict[str, int]:
    """The same on Postgres: files are read by DuckDB and copied in; tables are read in place."""
    config = load_config(settings)
    local = duckdb.connect()

    def columns_of(source: PersonSource) -> list[str]:
        if source.file is not None:
            return file_columns(source)
        schema, _, table = str(source.table).partition(".")
        with pg_con.cursor() as cur:
            cur.execute(
                "select column_name from information_schema.columns "
                "where table_schema = %s and table_name = %s order by ordinal_position",
                (schema, table),
            )
            rows = cur.fetchall()
        if not rows:
            raise PersonSourceConfigError(
                f"table {source.table} does not exist in the database",
                file=config.declared_in.get(source.name),
                source=source.name,
                key="table",
            )
        return [name for (name,) in rows]

    try:
        _check_all(config, columns_of)
        loaded_at = _now()
        counts: dict[str, int] = {}
        with pg_con.cursor() as cur:
            cur.execute(_held_sql())
            held = _held(cur.fetchall())
            for statement in _set_aside_sql(held):
                cur.execute(statement)
            local.execute(f"create schema {SCHEMA}")
            for index, source in enumerate(config.sources):
                if source.file is None:
                    counts.update(_load_postgres_table(cur, source, config, index, loaded_at))
                    continue
                # Land the file in DuckDB exactly as on the DuckDB target, then copy the rows over.
                local.execute(f"drop table if exists {SCHEMA}.records")
                local.execute(f"drop table if exists {SCHEMA}.external_ids")
                local.execute(_ddl("records", RECORD_COLUMNS))
                local.execute(_ddl("external_ids", EXTERNAL_ID_COLUMNS))
                modified_at = _file_modified_at(source)
                staged, rejected = _stage_file(local, source, index)
                local.execute(_insert_records_sql(source, staged, loaded_at, modified_at))
                if rejected:
                    local.execute(_insert_rejects_sql(source, index, staged, loaded_at, modified_at))
                for statement in _insert_external_ids_sql(source, config, staged, loaded_at):
                    local.execute(statement)
                for table, columns in (("records", RECORD_COLUMNS), ("external_ids", EXTERNAL_ID_COLUMNS)):
                    _copy_to_postgres(local, cur, table, [name for name, _ in columns])
                counts[f"{source.name}.{source.table_label}"] = local.execute(
                    f"select count(*) from {SCHEMA}.records"
                ).fetchone()[0]  # type: ignore[index]
            for statement in _keep_first_load_times_sql(held, postgres_digest):
                cur.execute(statement)
        return counts
    finally:
        local.close()


def _copy_to_postgres(local: duckdb.DuckDBPyConnection, cur: Any, table: str, names: list[str]) -> None:
    with tempfile.NamedTemporaryFile(suffix=".csv") as tmp:
        local.execute(
            f"copy (select {', '.join(names)} from {SCHEMA}.{table}) to '{tmp.name}' "
            "(header false, nullstr '\\N', timestampformat '%Y-%m-%d %H:%M:%S.%f')"
        )
        with open(tmp.name) as handle:
            cur.copy_expert(
                f"copy {SCHEMA}.{table} ({', '.join(names)}) from stdin with (format csv, null '\\N')", handle
            )


def _load_postgres_table(
    cur: Any, source: PersonSource, config: PersonSourcesConfig, index: int, loaded_at: dt.datetime
) -> dict[str, int]:
    schema, _, table = str(source.table).partition(".")
    staged = f"__ps_src_{index}"
    cur.execute(
        f"create temp table {staged} on commit drop as "
        f"select row_number() over () as __row, cast(row_to_json(t) as text) as __json, t.* "
        f"from {_ident(schema)}.{_ident(table)} as t"
    )
    cur.execute(_insert_records_sql(source, staged, loaded_at, None))
    for statement in _insert_external_ids_sql(source, config, staged, loaded_at):
        cur.execute(statement)
    cur.execute(f"select count(*) from {staged}")
    return {f"{source.name}.{source.table_label}": cur.fetchone()[0]}


def declared_files(settings: Settings) -> list[Path]:
    """The files the declarations read (for listing; raises on a wrong declaration)."""
    return [s.file for s in load_config(settings).sources if s.file is not None]
