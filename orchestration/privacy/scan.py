"""Finding a person's data: SQL scans of every table, byte-level scans of files, and deleting matching rows.

Terms are matched case-insensitively. A term of six characters or more that is not only digits (emails,
phones, device ids, loyalty cards, customer ids) is searched as a substring of every text column, which
also finds it inside JSON (quarantined rows), URLs and free text. Shorter or all-digit terms (a shop's
numeric customer id) would match unrelated text and numbers, so they must equal a whole value of a text
column; numeric columns are not compared (see match_condition). In a table a source writes (a demo raw
table, a loader's table) and in a model that declares them, only the columns that hold a person's
identifiers are compared with them (id_columns.py): "1234" in another person's order_id column is not shop
customer 1234. The scans count such values apart (`TableScan.outside`): left on purpose, not hits. A child
table (an order's lines, a loader's or the demo's raw_shop.order_items) is reached through its parent row
(parent_condition)."""

from __future__ import annotations

import contextlib
import mmap
import re
import sqlite3
from collections.abc import Callable, Collection, Iterable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import duckdb

# DuckDB and Postgres spellings; a Postgres array is scanned through its text form.
TEXT_TYPES = ("VARCHAR", "JSON", "JSONB", "TEXT", "CHARACTER VARYING", "CHARACTER", "ARRAY")
MIN_SUBSTRING = 6

#: (schema, table) -> the columns (lower case) an exact term is compared with; None: every text column.
IdColumns = Callable[[str, str], "frozenset[str] | None"]


@dataclass(frozen=True)
class ParentLink:
    """A child table whose rows name no person (a Shopify order's lines): a row is the person's when its
    parent row is, `column` of the child holding the parent's `key`."""

    schema: str
    table: str
    column: str
    key: str = "id"


#: (schema, table) -> the table's parent when its rows are a person's through their parent row; None: not a child.
Parents = Callable[[str, str], "ParentLink | None"]


def any_of(*conditions: str | None) -> str | None:
    """The SQL conditions given (None ones left out) joined by `or`; None when there are none."""
    return " or ".join(f"({c})" for c in conditions if c) or None


def is_substring_term(term: str) -> bool:
    return len(term) >= MIN_SUBSTRING and not term.isdigit()


def normalise_terms(terms: Iterable[str]) -> list[str]:
    cleaned = {str(t).strip().lower() for t in terms if t is not None and str(t).strip()}
    return sorted(cleaned)


def _quote(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def _ident(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def is_id_column(name: str) -> bool:
    """A column that holds identifiers by its name: `id`, `…_id`, `identifier_value`, `key` (sync state)."""
    lowered = name.lower()
    return lowered in ("id", "key", "identifier_value") or lowered.endswith("_id")


def _is_text(data_type: str) -> bool:
    return data_type.upper().split("(")[0] in TEXT_TYPES


INTEGER_TYPES = ("TINYINT", "SMALLINT", "INTEGER", "INT", "BIGINT", "HUGEINT", "UBIGINT", "UINTEGER")


def _is_integer(data_type: str) -> bool:
    return data_type.upper().split("(")[0] in INTEGER_TYPES


def _equals_any(column: str, exact: list[str]) -> str:
    return f"lower(trim(cast({_ident(column)} as varchar))) in ({', '.join(_quote(t) for t in exact)})"


def match_condition(
    columns: list[tuple[str, str]], terms: list[str], id_columns: Collection[str] | None = None
) -> str | None:
    """SQL true for a row holding any term, over (column name, data type) pairs; None when nothing can match.

    A short or all-digit term (a shop's numeric customer id) must equal the whole value of a text column,
    and with `id_columns` (lower-case names: the table's identifier columns, id_columns.py) of one of those
    only. Undeclared numeric columns are not compared: there the term would match unrelated rows (order 1234
    is not shop customer 1234, and a count or a surrogate key of 1 is nobody's). A declared identifier
    column of an integer type (Fivetran's Shopify `order.customer_id`) is compared, as text: it holds
    nothing but people's ids. Other rows that carry the person's id in a numeric column are found through
    identity and deleted by their record id."""
    substring = [t for t in terms if is_substring_term(t)]
    exact = [t for t in terms if not is_substring_term(t)]
    parts: list[str] = []
    for name, data_type in columns:
        if not _is_text(data_type):
            if exact and id_columns is not None and name.lower() in id_columns and _is_integer(data_type):
                parts.append(_equals_any(name, exact))
            continue
        lowered = f"lower(cast({_ident(name)} as varchar))"
        parts.extend(f"strpos({lowered}, {_quote(t)}) > 0" for t in substring)
        if exact and (id_columns is None or name.lower() in id_columns):
            parts.append(_equals_any(name, exact))
    return " or ".join(parts) if parts else None


def outside_condition(
    columns: list[tuple[str, str]], terms: list[str], id_columns: Collection[str] | None
) -> str | None:
    """SQL true for a row where a short or all-digit term equals a text column that is not one of
    `id_columns`: what match_condition leaves on purpose (None without id_columns, or nothing to compare)."""
    exact = [t for t in terms if not is_substring_term(t)]
    if id_columns is None or not exact:
        return None
    parts = [
        _equals_any(name, exact)
        for name, data_type in columns
        if _is_text(data_type) and name.lower() not in id_columns
    ]
    return " or ".join(parts) if parts else None


def parent_condition(
    con: Any,
    schema: str,
    table: str,
    terms: list[str],
    id_columns: IdColumns | None,
    parents: Parents | None,
    database: str | None = None,
    known: Mapping[tuple[str, str], list[tuple[str, str]]] | None = None,
) -> str | None:
    """SQL over a child table (`parents`), true for a row whose parent row holds a term (matched by the
    parent's own rules, its parent's too); None when the table is no child, or its parent or link column is
    absent (a loader writes a table only once it has rows). `known`: the database's columns, already read
    (catalog_columns)."""
    link = parents(schema, table) if parents is not None else None
    if link is None:
        return None
    terms = normalise_terms(terms)
    child = {name.lower() for name, _ in known_columns(con, known, schema, table, database)}
    parent_columns = known_columns(con, known, link.schema, link.table, database)
    if link.column.lower() not in child or link.key.lower() not in {n.lower() for n, _ in parent_columns}:
        return None
    own = match_condition(parent_columns, terms, id_columns(link.schema, link.table) if id_columns else None)
    through = parent_condition(con, link.schema, link.table, terms, id_columns, parents, database, known)
    held = any_of(own, through)
    if not held:
        return None
    prefix = f"{_ident(database)}." if database else ""
    return (
        f"cast({_ident(link.column)} as varchar) in (select cast({_ident(link.key)} as varchar) "
        f"from {prefix}{_ident(link.schema)}.{_ident(link.table)} where {held})"
    )


def children_first(tables: Iterable[tuple[str, str]], parents: Parents | None) -> list[tuple[str, str]]:
    """`tables` with every child table before its parent: a child's rows are found through the parent's,
    so a deletion must reach them before the parent's rows are gone."""
    chosen = list(tables)
    if parents is None:
        return chosen

    def depth(schema: str, table: str) -> int:
        link, seen = parents(schema, table), 0
        while link is not None and seen < 8:
            seen += 1
            link = parents(link.schema, link.table)
        return seen

    return sorted(chosen, key=lambda t: -depth(*t))


def count_matches(
    con: Any,
    relation: str,
    columns: list[tuple[str, str]],
    terms: list[str],
    id_columns: Collection[str] | None,
    extra: str | None = None,
) -> tuple[int, int, int]:
    """(rows, rows holding a term or meeting `extra`, rows where only a non-identifier column equals an
    exact term) of one relation (a table, or a read_parquet)."""
    own = match_condition(columns, terms, id_columns)
    condition = any_of(own, extra)
    outside = outside_condition(columns, terms, id_columns)
    counts = ["count(*)"]
    if condition is not None:
        counts.append(f"count(*) filter (where {condition})")
    if outside is not None:
        held = f" and not coalesce(({condition}), false)" if condition is not None else ""
        counts.append(f"count(*) filter (where ({outside}){held})")
    row = con.execute(f"select {', '.join(counts)} from {relation}").fetchone()
    values = [int(v or 0) for v in row]
    rows = values.pop(0)
    hits = values.pop(0) if condition is not None else 0
    left = values.pop(0) if outside is not None else 0
    return rows, hits, left


@dataclass
class TableScan:
    table: str
    rows: int
    hits: int
    # Rows where a short or all-digit term equals a column that holds no identifier (another person's order
    # id 1234, say): not the person's, left on purpose, counted so that the proof says so.
    outside: int = 0


def tables_of(con: duckdb.DuckDBPyConnection, database: str | None = None) -> list[tuple[str, str]]:
    """(schema, table) of every base table in the connection's current (or the named) database."""
    rows = con.execute(
        "select table_schema, table_name from information_schema.tables "
        "where table_type = 'BASE TABLE' and table_catalog = coalesce(?, current_database()) "
        "order by 1, 2",
        [database],
    ).fetchall()
    return [(schema, table) for schema, table in rows]


def columns_of(con: Any, schema: str, table: str, database: str | None = None) -> list[tuple[str, str]]:
    return [
        (name, data_type)
        for name, data_type in con.execute(
            "select column_name, data_type from information_schema.columns "
            "where table_catalog = coalesce(?, current_database()) and table_schema = ? and table_name = ? "
            "order by ordinal_position",
            [database, schema, table],
        ).fetchall()
    ]


def catalog_columns(
    con: Any, database: str | None = None, schemas: Collection[str] | None = None
) -> dict[tuple[str, str], list[tuple[str, str]]]:
    """columns_of for every table and view of the connection's current (or the named) database (of
    `schemas` only, where given), read in one query: a scan of every table asks for each one's columns,
    and a query per table costs more than the scan of a small table."""
    wanted = sorted(schemas) if schemas is not None else []
    in_schemas = f" and table_schema in ({', '.join('?' for _ in wanted)})" if wanted else ""
    known: dict[tuple[str, str], list[tuple[str, str]]] = {}
    if schemas is not None and not wanted:
        return known
    for schema, table, name, data_type in con.execute(
        "select table_schema, table_name, column_name, data_type from information_schema.columns "
        f"where table_catalog = coalesce(?, current_database()){in_schemas} "
        "order by table_schema, table_name, ordinal_position",
        [database, *wanted],
    ).fetchall():
        known.setdefault((schema, table), []).append((name, data_type))
    return known


def known_columns(
    con: Any,
    known: Mapping[tuple[str, str], list[tuple[str, str]]] | None,
    schema: str,
    table: str,
    database: str | None = None,
) -> list[tuple[str, str]]:
    """columns_of, from `known` (catalog_columns) where it holds the table."""
    found = known.get((schema, table)) if known is not None else None
    return found if found is not None else columns_of(con, schema, table, database)


def scan_tables(
    con: Any,
    terms: list[str],
    *,
    database: str | None = None,
    tables: list[tuple[str, str]] | None = None,
    id_columns: IdColumns | None = None,
    parents: Parents | None = None,
) -> list[TableScan]:
    """Rows holding any term, per base table of the database (every schema), or of `tables`; with
    `id_columns`, a table's exact terms are compared with its identifier columns only (match_condition);
    with `parents`, a child table's rows whose parent row holds a term count too (parent_condition).
    `con` is a DuckDB connection or anything with the same execute() (orchestration/privacy/postgres.py)."""
    terms = normalise_terms(terms)
    results = []
    prefix = f"{_ident(database)}." if database else ""
    chosen = tables_of(con, database) if tables is None else tables
    known = catalog_columns(con, database, {schema for schema, _ in chosen})
    for schema, table in chosen:
        relation = f"{prefix}{_ident(schema)}.{_ident(table)}"
        columns = known_columns(con, known, schema, table, database)
        rows, hits, outside = count_matches(
            con,
            relation,
            columns,
            terms,
            id_columns(schema, table) if id_columns else None,
            parent_condition(con, schema, table, terms, id_columns, parents, database, known),
        )
        results.append(TableScan(f"{schema}.{table}", rows, hits, outside))
    return results


def delete_matching(
    con: Any,
    schema: str,
    table: str,
    terms: list[str],
    extra: str | None = None,
    id_columns: Collection[str] | None = None,
    columns: list[tuple[str, str]] | None = None,
) -> int:
    """Delete the rows of one table that hold any term (or meet `extra`); returns how many. With
    `id_columns`, exact terms are compared with those columns only (match_condition). `columns`: the
    table's, already read (catalog_columns)."""
    if columns is None:
        columns = columns_of(con, schema, table)
    condition = match_condition(columns, normalise_terms(terms), id_columns)
    conditions = [c for c in (condition, extra) if c]
    if not conditions:
        return 0
    relation = f"{_ident(schema)}.{_ident(table)}"
    deleted = con.execute(
        f"delete from {relation} where {' or '.join(f'({c})' for c in conditions)} returning 1"
    ).fetchall()
    return len(deleted)


def byte_terms(terms: Iterable[str]) -> list[str]:
    """Terms a byte-level scan can look for without matching unrelated bytes."""
    return [t for t in normalise_terms(terms) if is_substring_term(t)]


# How many of a file's bytes a byte scan lowercases and searches at a time: a large file is never copied whole.
SCAN_CHUNK = 64 * 1024 * 1024


def scan_bytes(path: Path, terms: Iterable[str]) -> int:
    """How many times any term occurs in the file's bytes (case-insensitive, UTF-8)."""
    wanted = byte_terms(terms)
    if not wanted or not path.exists() or path.stat().st_size == 0:
        return 0
    # The case folding of re.IGNORECASE on bytes is ASCII's, as bytes.lower()'s is: the lowercased bytes
    # searched for the lowercased terms find the same matches, several times faster.
    needles = [t.encode().lower() for t in wanted]
    pattern = re.compile(b"|".join(re.escape(needle) for needle in needles))
    with file_bytes(path) as data:
        return count_lowered(pattern, data, max(map(len, needles)) - 1)


def count_lowered(pattern: re.Pattern[bytes], data: Any, overlap: int, chunk: int = SCAN_CHUNK) -> int:
    """How many matches re.finditer finds in data.lower(), read a chunk at a time: each chunk's window runs
    `overlap` bytes past it, so a match starting in the chunk is seen whole, and the next chunk starts
    where the last match counted ended (finditer's matches do not overlap)."""
    count, position, size = 0, 0, len(data)
    while position < size:
        end = min(position + chunk, size)
        window = bytes(data[position : min(end + overlap, size)]).lower()
        resume = end
        for found in pattern.finditer(window):
            if position + found.start() >= end:
                break
            count += 1
            resume = max(resume, position + found.end())
        position = resume
    return count


#: Names SQLite databases go by (Dagster's storage: index.db, <run id>.db, schedules.db, runs.db).
SQLITE_SUFFIXES = (".db", ".sqlite", ".sqlite3")


@contextlib.contextmanager
def file_bytes(path: Path) -> Iterator[Any]:
    """A file's bytes, for a byte-level scan.

    A SQLite database is read through SQLite (the whole database image, free pages included), never
    opened as a plain file: POSIX locks belong to the process, so closing any descriptor of a database
    file drops the locks every open SQLite connection of this process holds on it (Dagster's event log
    keeps its connections open: orchestration/build/dagster_storage.py). Another process then takes
    itself for the last user, checkpoints and deletes the write-ahead log under those connections
    (disk I/O errors, lost events). SQLite's own close defers that while its locks are held. A
    `-shm` file (a lock and page index, no row data) is not read; a `-wal` file holds no locks and is
    read as a file."""
    if path.name.endswith("-shm"):
        yield b""
        return
    if path.suffix in SQLITE_SUFFIXES:
        image = _sqlite_image(path)
        if image is not None:
            yield image
            return
    with open(path, "rb") as handle, mmap.mmap(handle.fileno(), 0, access=mmap.ACCESS_READ) as data:
        yield data


def _sqlite_image(path: Path) -> bytes | None:
    """The database image of a SQLite file, read-only; None when the file is not a SQLite database."""
    con = sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True, timeout=30)
    try:
        return con.serialize()
    except sqlite3.DatabaseError as exc:
        # Only a file that is not SQLite's is read as a plain file; a locked or damaged database is an
        # error, not a reason to open it the unsafe way.
        if "not a database" in str(exc):
            return None
        raise
    finally:
        con.close()
