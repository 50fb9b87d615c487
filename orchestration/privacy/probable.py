"""Names and street addresses: what may still point at an erased person without being one of their identifiers.

An erase removes the person's identity cluster. A record that holds the same full name, or the same street
line, was not linked to them, so it may be someone else; the proof reports such records as "probably the same
person, not linked", with where they were found (table or file, and column), never the value, and apart from
identifier hits (which fail the proof).

To keep common names from raising alarms about other people:
- a name is searched only when first + last name together have at least MIN_NAME_CHARS characters, and when at
  most MAX_NAME_SHARERS other customers hold that same full name;
- a street line is searched only when it has at least MIN_STREET_CHARS characters with a letter and a digit
  (a house number), and no other customer holds it.

The traits are captured from the published customers before the erase, and live only in the request's memory:
the ledger stores salted hashes of them, never the values (a resumed erase that published already cannot
capture them again, and its proof says so).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from orchestration.privacy.scan import TEXT_TYPES, catalog_columns, file_bytes, known_columns

MIN_NAME_CHARS = 8
MAX_NAME_SHARERS = 2
MIN_STREET_CHARS = 8
# How far apart (in bytes, on one line) a first and a last name may be in a file: a JSON or CSV record.
NAME_WINDOW = 80


def _norm(value: Any) -> str:
    return " ".join(str(value or "").split()).lower()


def _quote(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def _ident(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


@dataclass
class Traits:
    """The subject's names (first, last) and street lines that are rare enough to search for, lower-cased."""

    names: list[tuple[str, str]] = field(default_factory=list)
    streets: list[str] = field(default_factory=list)
    # Why a name or street of the person was not searched (counts only, never values).
    skipped: dict[str, int] = field(default_factory=dict)
    # Why nothing could be captured (a resumed erase after the publish), for the proof.
    note: str = ""

    @property
    def empty(self) -> bool:
        return not self.names and not self.streets

    def values(self) -> list[str]:
        """Every value, for salted hashes in the ledger."""
        return sorted({f"{f} {last}" for f, last in self.names} | set(self.streets))


def is_searchable_name(first: str, last: str) -> bool:
    return bool(first) and bool(last) and len(first) + len(last) >= MIN_NAME_CHARS


def is_searchable_street(street: str) -> bool:
    return (
        len(street) >= MIN_STREET_CHARS
        and any(c.isalpha() for c in street)
        and any(c.isdigit() for c in street)
    )


def capture_traits(con: Any, customer_ids: list[str]) -> Traits:
    """The names and street lines of the cluster's customers that may be searched (see the module docstring).
    `con` reads the published models (DuckDB, or the Postgres session with the same execute())."""
    traits = Traits()
    if not customer_ids:
        return traits
    ids = ", ".join(_quote(c) for c in customer_ids)
    rows = con.execute(
        f"select first_name, last_name, street from customers where customer_id in ({ids})"
    ).fetchall()
    names = {(_norm(first), _norm(last)) for first, last, _ in rows if first and last}
    streets = {_norm(street) for _, _, street in rows if street and str(street).strip()}
    skipped = {"short_name": 0, "common_name": 0, "street_not_specific": 0, "street_shared": 0}
    for first, last in sorted(names):
        if not is_searchable_name(first, last):
            skipped["short_name"] += 1
            continue
        (others,) = con.execute(
            "select count(distinct customer_id) from customers "
            f"where lower(trim(first_name)) = {_quote(first)} and lower(trim(last_name)) = {_quote(last)} "
            f"and customer_id not in ({ids})"
        ).fetchone()
        if int(others or 0) > MAX_NAME_SHARERS:
            skipped["common_name"] += 1
            continue
        traits.names.append((first, last))
    for street in sorted(streets):
        if not is_searchable_street(street):
            skipped["street_not_specific"] += 1
            continue
        (others,) = con.execute(
            "select count(distinct customer_id) from customers "
            f"where lower(trim(street)) = {_quote(street)} and customer_id not in ({ids})"
        ).fetchone()
        if int(others or 0):
            skipped["street_shared"] += 1
            continue
        traits.streets.append(street)
    traits.skipped = {k: v for k, v in skipped.items() if v}
    return traits


@dataclass
class ProbableHit:
    """Rows of a table (or a file) that hold the person's name or street, and in which columns."""

    where: str
    kind: str  # "name" or "street"
    count: int
    columns: list[str] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return {"where": self.where, "kind": self.kind, "count": self.count, "columns": self.columns}


def _text_columns(columns: list[tuple[str, str]]) -> list[str]:
    return [name for name, data_type in columns if data_type.upper().split("(")[0] in TEXT_TYPES]


def _name_conditions(columns: list[str], traits: Traits) -> tuple[str, dict[str, str]]:
    """SQL true for a row holding a full name (in one column, or first and last name in two), and per column,
    SQL true when that column holds a part of it."""
    row_parts: list[str] = []
    column_parts: dict[str, list[str]] = {c: [] for c in columns}
    for first, last in traits.names:
        fulls = [f"{first} {last}", f"{last}, {first}", f"{last} {first}"]
        texts = {c: f"lower(cast({_ident(c)} as varchar))" for c in columns}
        trimmed = {c: f"lower(trim(cast({_ident(c)} as varchar)))" for c in columns}
        whole = " or ".join(f"strpos({texts[c]}, {_quote(full)}) > 0" for c in columns for full in fulls)
        firsts = " or ".join(f"{trimmed[c]} = {_quote(first)}" for c in columns)
        lasts = " or ".join(f"{trimmed[c]} = {_quote(last)}" for c in columns)
        row_parts.append(f"({whole}) or (({firsts}) and ({lasts}))")
        for c in columns:
            column_parts[c].append(
                " or ".join(f"strpos({texts[c]}, {_quote(full)}) > 0" for full in fulls)
                + f" or {trimmed[c]} in ({_quote(first)}, {_quote(last)})"
            )
    return " or ".join(f"({p})" for p in row_parts), {
        c: " or ".join(f"({p})" for p in parts) for c, parts in column_parts.items()
    }


def scan_relation(
    con: Any, relation: str, columns: list[tuple[str, str]], traits: Traits, where: str
) -> list[ProbableHit]:
    """Name and street hits in one relation (a table, or read_parquet(...)), with the columns they are in."""
    text = _text_columns(columns)
    if traits.empty or not text:
        return []
    # Each condition is computed once per row, in a subquery, and counted outside: repeating the row's
    # condition (which spans every column) in each column's count made the query grow with the square of
    # the columns, and its planning, not the data, the cost of a scan.
    flags: list[str] = []
    aggregates: list[str] = []
    labels: list[tuple[str, str]] = []
    if traits.names:
        row, per_column = _name_conditions(text, traits)
        flags.append(f"({row}) as name_hit")
        aggregates.append("count(*) filter (where name_hit)")
        labels.append(("name", ""))
        for i, c in enumerate(text):
            flags.append(f"({per_column[c]}) as name_in_{i}")
            aggregates.append(f"count(*) filter (where name_hit and name_in_{i})")
            labels.append(("name", c))
    if traits.streets:
        for i, c in enumerate(text):
            condition = " or ".join(
                f"strpos(lower(cast({_ident(c)} as varchar)), {_quote(s)}) > 0" for s in traits.streets
            )
            flags.append(f"({condition}) as street_in_{i}")
        any_street = " or ".join(f"street_in_{i}" for i in range(len(text)))
        aggregates.append(f"count(*) filter (where {any_street})")
        labels.append(("street", ""))
        for i, c in enumerate(text):
            aggregates.append(f"count(*) filter (where street_in_{i})")
            labels.append(("street", c))
    counts = con.execute(
        f"select {', '.join(aggregates)} from (select {', '.join(flags)} from {relation}) as flagged"
    ).fetchone()
    hits: dict[str, ProbableHit] = {}
    for (kind, column), count in zip(labels, counts, strict=True):
        if not count:
            continue
        if column == "":
            hits[kind] = ProbableHit(where, kind, int(count))
        elif kind in hits:
            hits[kind].columns.append(column)
    return list(hits.values())


def scan_tables(
    con: Any, traits: Traits, tables: Iterable[tuple[str, str]], label: str, database: str | None = None
) -> list[ProbableHit]:
    """Name and street hits per base table; `con` is DuckDB or a Postgres session (PgSession)."""
    hits: list[ProbableHit] = []
    if traits.empty:
        return hits
    prefix = f"{_ident(database)}." if database else ""
    tables = list(tables)
    known = catalog_columns(con, database, {schema for schema, _ in tables})
    for schema, table in tables:
        columns = known_columns(con, known, schema, table, database)
        relation = f"{prefix}{_ident(schema)}.{_ident(table)}"
        hits.extend(scan_relation(con, relation, columns, traits, f"{label}:{schema}.{table}"))
    return hits


def _name_pattern(traits: Traits) -> re.Pattern[bytes] | None:
    parts: list[bytes] = []
    for first, last in traits.names:
        a, b = re.escape(first.encode()), re.escape(last.encode())
        gap = b"[^\\n]{0,%d}?" % NAME_WINDOW
        parts.append(b"\\b" + a + b"\\b" + gap + b"\\b" + b + b"\\b")
        parts.append(b"\\b" + b + b"\\b" + gap + b"\\b" + a + b"\\b")
    return re.compile(b"|".join(parts), re.IGNORECASE) if parts else None


def scan_file(path: Path, traits: Traits) -> list[ProbableHit]:
    """Name and street hits in a file's bytes: a first and last name on one line within NAME_WINDOW bytes
    of each other (any order), or a street line (case-insensitive; ASCII case folding only)."""
    if traits.empty or not path.is_file() or path.stat().st_size == 0:
        return []
    if path.suffix == ".parquet":
        return _scan_parquet(path, traits)
    hits = []
    names = _name_pattern(traits)
    streets = (
        re.compile(b"|".join(re.escape(s.encode()) for s in traits.streets), re.IGNORECASE)
        if traits.streets
        else None
    )
    with file_bytes(path) as data:
        for kind, pattern in (("name", names), ("street", streets)):
            if pattern is None:
                continue
            count = sum(1 for _ in pattern.finditer(data))  # type: ignore[call-overload]
            if count:
                hits.append(ProbableHit(str(path), kind, count))
    return hits


def _scan_parquet(path: Path, traits: Traits) -> list[ProbableHit]:
    import duckdb

    con = duckdb.connect()
    try:
        source = "read_parquet(" + _quote(str(path)) + ")"
        columns = [
            (name, dtype) for name, dtype, *_ in con.execute(f"describe select * from {source}").fetchall()
        ]
        return scan_relation(con, source, columns, traits, str(path))
    finally:
        con.close()


def summarise(hits: list[ProbableHit]) -> dict[str, Any]:
    """The proof's section: counts and places only."""
    return {
        "verdict": "probably the same person, not linked",
        "total": sum(h.count for h in hits),
        "hits": [h.to_json() for h in hits],
    }
