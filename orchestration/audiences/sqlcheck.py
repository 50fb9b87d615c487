"""Refuse audience SQL that is not exactly one read-only SELECT, using sqlglot's parser."""

from __future__ import annotations

import re
from typing import Any

import sqlglot
from sqlglot import exp
from sqlglot.errors import ParseError

# A raw `sql:` condition may name models as {{ ref('name') }}; for parsing they become plain tables.
REF_PLACEHOLDER = re.compile(r"\{\{\s*ref\(\s*['\"]([A-Za-z0-9_]+)['\"]\s*\)\s*\}\}")

# Statements and clauses that write, lock or change the session, wherever they appear (a Postgres
# data-modifying CTE is a DELETE inside an otherwise valid SELECT).
_WRITES: tuple[type[exp.Expression], ...] = (
    exp.Insert,
    exp.Update,
    exp.Delete,
    exp.Merge,
    exp.Create,
    exp.Drop,
    exp.Alter,
    exp.TruncateTable,
    exp.Command,
    exp.Set,
    exp.Use,
    exp.Copy,
    exp.Grant,
    exp.Lock,
    exp.Transaction,
    exp.Commit,
    exp.Rollback,
)


class AudienceSqlRefused(ValueError):
    """An audience definition is not a single SELECT; the message names the audience and why."""


def _describe(statement: Any) -> str:
    return statement.key.upper().replace("TRUNCATETABLE", "TRUNCATE")


def check_single_select(audience: str, sql: str, dialect: str = "duckdb", *, what: str = "SQL") -> exp.Query:
    """Return the parsed query if `sql` is exactly one SELECT (set operations and CTEs included) that
    neither writes nor locks; otherwise raise AudienceSqlRefused naming `audience`."""
    text = REF_PLACEHOLDER.sub(lambda m: m.group(1), sql)
    try:
        statements = [s for s in sqlglot.parse(text, dialect=dialect) if s is not None]
    except ParseError as exc:
        first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise AudienceSqlRefused(f"audience {audience}: its {what} does not parse as SQL ({first})") from exc
    if not statements:
        raise AudienceSqlRefused(f"audience {audience}: its {what} is empty; an audience is one SELECT")
    if len(statements) > 1:
        kinds = ", ".join(_describe(s) for s in statements)
        raise AudienceSqlRefused(
            f"audience {audience}: its {what} holds {len(statements)} statements ({kinds}); "
            "an audience is exactly one SELECT"
        )
    statement = statements[0]
    if not isinstance(statement, exp.Query):
        raise AudienceSqlRefused(
            f"audience {audience}: its {what} is a {_describe(statement)} statement, not a SELECT; "
            "audiences may only read"
        )
    for node in statement.walk():
        if isinstance(node, _WRITES):
            raise AudienceSqlRefused(
                f"audience {audience}: its {what} contains a {_describe(node)} ({node.sql(dialect=dialect)[:80]!r}); "
                "audiences may only read"
            )
        if isinstance(node, exp.Select) and node.args.get("into") is not None:
            raise AudienceSqlRefused(
                f"audience {audience}: its {what} is a SELECT … INTO, which creates a table; audiences may only read"
            )
        if isinstance(node, exp.Select) and node.args.get("locks"):
            raise AudienceSqlRefused(
                f"audience {audience}: its {what} takes row locks (FOR UPDATE/SHARE); audiences may only read"
            )
    return statement
