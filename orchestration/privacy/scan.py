"""Finding a person's data: SQL scans of every table, byte-level scans of files, and deleting matching rows.

Terms are matched case-insensitively. A term of six characters or more that is not only digits (emails,
phones, device ids, loyalty cards, customer ids) is searched as a substring of every text column, which
also finds it inside JSON (quarantined rows), URLs and free text. Shorter or all-digit terms (a shop's
numeric customer id) would match unrelated text and numbers, so they must equal a whole value of a text
column; numeric columns are not compared (see match_condition)."""

from __future__ import annotations

import mmap
import re
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import duckdb

# DuckDB and Postgres spellings; a Postgres array is scanned through its text form.
TEXT_TYPES = ("VARCHAR", "JSON", "JSONB", "TEXT", "CHARACTER VARYING", "CHARACTER", "ARRAY")
MIN_SUBSTRING = 6


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


def match_condition(columns: list[tuple[str, str]], terms: list[str]) -> str | None:
    """SQL true for a row holding any term, over (column name, data type) pairs; None when nothing can match.

    A short or all-digit term (a shop's numeric customer id) must equal the whole value of a text column.
    Numeric columns are not compared: there the term would match unrelated rows (order 1234 is not shop
    customer 1234, and a count or a surrogate key of 1 is nobody's). Rows that carry the person's id in a
    numeric column are found through identity and deleted by their record id."""
    substring = [t for t in terms if is_substring_term(t)]
    exact = [t for t in terms if not is_substring_term(t)]
    parts: list[str] = []
    for name, data_type in columns:
        column = _ident(name)
        if data_type.upper().split("(")[0] not in TEXT_TYPES:
            continue
        lowered = f"lower(cast({column} as varchar))"
        parts.extend(f"strpos({lowered}, {_quote(t)}) > 0" for t in substring)
        if exact:
            parts.append(f"lower(trim(cast({column} as varchar))) in ({', '.join(_quote(t) for t in exact)})")
    return " or ".join(parts) if parts else None


@dataclass
class TableScan:
    table: str
    rows: int
    hits: int


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


def scan_tables(
    con: Any,
    terms: list[str],
    *,
    database: str | None = None,
    tables: list[tuple[str, str]] | None = None,
) -> list[TableScan]:
    """Rows holding any term, per base table of the database (every schema), or of `tables`.
    `con` is a DuckDB connection or anything with the same execute() (orchestration/privacy/postgres.py)."""
    terms = normalise_terms(terms)
    results = []
    prefix = f"{_ident(database)}." if database else ""
    for schema, table in tables_of(con, database) if tables is None else tables:
        relation = f"{prefix}{_ident(schema)}.{_ident(table)}"
        condition = match_condition(columns_of(con, schema, table, database), terms)
        if condition is None:
            (rows,) = con.execute(f"select count(*) from {relation}").fetchone()  # type: ignore[misc]
            results.append(TableScan(f"{schema}.{table}", rows, 0))
            continue
        rows, hits = con.execute(
            f"select count(*), count(*) filter (where {condition}) from {relation}"
        ).fetchone()  # type: ignore[misc]
        results.append(TableScan(f"{schema}.{table}", int(rows), int(hits or 0)))
    return results


def delete_matching(con: Any, schema: str, table: str, terms: list[str], extra: str | None = None) -> int:
    """Delete the rows of one table that hold any term (or meet `extra`); returns how many."""
    condition = match_condition(columns_of(con, schema, table), normalise_terms(terms))
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


def scan_bytes(path: Path, terms: Iterable[str]) -> int:
    """How many times any term occurs in the file's bytes (case-insensitive, UTF-8)."""
    wanted = byte_terms(terms)
    if not wanted or not path.exists() or path.stat().st_size == 0:
        return 0
    pattern = re.compile(b"|".join(re.escape(t.encode()) for t in wanted), re.IGNORECASE)
    with open(path, "rb") as handle, mmap.mmap(handle.fileno(), 0, access=mmap.ACCESS_READ) as data:
        return sum(1 for _ in pattern.finditer(data))  # type: ignore[call-overload]
