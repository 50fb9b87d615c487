"""The masked DuckDB file: the masked views' rows, alone in a file analysts without PII access may open."""

from __future__ import annotations

import logging
from pathlib import Path

import duckdb

from orchestration.settings import Settings
from orchestration.warehouse.connection import open_read_only
from orchestration.warehouse.files import written_aside

log = logging.getLogger(__name__)


class MaskedFileError(RuntimeError):
    """The published warehouse has no masked schema to export."""


def masked_file_path(settings: Settings) -> Path:
    """Where `tessera masked-file` writes: TESSERA_MASKED_FILE, else beside the published file."""
    return settings.masked_file or settings.published_db.with_name("tessera_masked.duckdb")


def masked_file_target(settings: Settings) -> Path | None:
    """The masked file every publish refreshes: the configured one (TESSERA_MASKED_FILE), else the default
    one once it was written; None when there is none to keep fresh."""
    target = masked_file_path(settings)
    return target if settings.masked_file is not None or target.exists() else None


def refresh_masked_file(settings: Settings) -> Path | None:
    """Rewrite the masked file from the file just published (DuckDB). A masked file that cannot be refreshed
    is removed rather than left stale: after an erasure it would still hold the person's rows (their
    customer id, their hashed email). Returns the file refreshed, or None."""
    target = masked_file_target(settings)
    if target is None:
        return None
    try:
        export_masked_file(settings.published_db, target)
    except (MaskedFileError, duckdb.Error, OSError) as exc:
        target.unlink(missing_ok=True)
        log.error("the masked file %s could not be refreshed and was removed: %s", target, exc)
        return None
    return target


def export_masked_file(published_db: Path, target: Path) -> dict[str, int]:
    """Copy every view of the published file's `masked` schema into `target` as a table of the same
    name in schema `masked`, and nothing else: no raw schema, no model, no salt. On DuckDB, where
    anyone who can open a file can read all of it, this file (not the published one) is what to
    give analysts who must not see PII. Written beside the target and renamed, like a publish.
    Returns rows per table."""
    if not published_db.exists():
        raise MaskedFileError(f"nothing is published yet at {published_db}: run the build first")
    counts: dict[str, int] = {}
    with written_aside(target) as tmp:
        con = duckdb.connect(str(tmp))
        try:
            con.execute(f"attach '{published_db}' as published (read_only)")
            views = [
                name
                for (name,) in con.execute(
                    "select view_name from duckdb_views() "
                    "where database_name = 'published' and schema_name = 'masked' order by 1"
                ).fetchall()
            ]
            if not views:
                raise MaskedFileError(f"{published_db} has no masked views (built before masking existed?)")
            # Qualified by catalog: a file named masked.duckdb would make a bare `masked` ambiguous.
            here = con.execute("select current_database()").fetchone()[0]  # type: ignore[index]
            con.execute(f'create schema "{here}".masked')
            for view in views:
                table = f'"{here}".masked."{view}"'
                con.execute(f'create table {table} as select * from published.masked."{view}"')
                counts[view] = int(con.execute(f"select count(*) from {table}").fetchone()[0])  # type: ignore[index]
            con.execute("detach published")
            con.execute("checkpoint")
        finally:
            con.close()
    log.info("masked file %s: %d tables", target, len(counts))
    return counts


def masked_terms(published_db: Path, terms: list[str]) -> list[str]:
    """Each term as the masked views show it: the md5 of the warehouse's masking salt and the value, the keyed
    hash of macros/privacy/masked_views.sql. The masked file holds a person's customer id, emails and phones only
    in that form, so an erase's proof searches it for these. Empty when nothing is published or it has no salt."""
    if not terms or not published_db.exists():
        return []
    con = open_read_only(published_db)
    try:
        salted = con.execute(
            "select count(*) from duckdb_tables() where database_name = current_database() "
            "and schema_name = 'main' and table_name = 'privacy_masking_salt'"
        ).fetchone()
        if not salted or not salted[0]:
            return []
        rows = con.execute(
            "select distinct md5(concat(s.salt, t.term)) from main.privacy_masking_salt as s, "
            "unnest(cast(? as varchar[])) as t(term)",
            [terms],
        ).fetchall()
    finally:
        con.close()
    return sorted(str(value) for (value,) in rows)
