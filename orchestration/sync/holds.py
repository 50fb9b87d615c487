"""Holding deletes for a person: what changed upstream since a sync last ran, read from what the build
recorded.

A share of removals that is ordinary on a quiet day is suspect right after a raw column was renamed,
a source went stale or identity resolution moved many customers: the records "left" the source
because the data broke, not because the people left. The engine then holds the removals (adds and
changes still go) until a person approves them (`tessera sync NAME --approve-removals`).

The evidence is read, never recomputed:
- schema drift: `tessera_audit.raw_schema_changes`, written by the raw load
  (orchestration/warehouse/duckdb.py; on Postgres the build schema's `raw_schema_changes`, postgres.py)
  for every raw table whose columns changed, and published with the build;
- freshness: dbt's own record of the build's `dbt source freshness` (`Settings.freshness_path`);
- identity: `customer_id_history` (every merge and split, with `changed_at`) against `customers`."""

from __future__ import annotations

import json
import logging
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

import duckdb

if TYPE_CHECKING:
    from orchestration.sync.stores.base import SourceTables, SyncSource

log = logging.getLogger(__name__)

SCHEMA_CHANGES = ("tessera_audit", "raw_schema_changes")


def _schema_changes(conn: duckdb.DuckDBPyConnection, tables: SourceTables, since: datetime) -> list[str]:
    columns = ["source_name", "table_name", "columns_added", "columns_missing", "loaded_at"]
    if tables.columns(*SCHEMA_CHANGES) is None:  # no build has recorded a change yet
        return []
    relation = tables.relation(*SCHEMA_CHANGES, columns)
    rows = conn.execute(
        f"""
        select source_name, table_name, string_agg(distinct columns_missing, ', '),
            string_agg(distinct columns_added, ', ')
        from {relation}
        where loaded_at > ?
        group by 1, 2
        order by 1, 2
        """,
        [since],
    ).fetchall()
    changes = []
    for source, table, missing, added in rows:
        parts = [f"missing {missing}" if missing else "", f"new {added}" if added else ""]
        changes.append(f"{source}.{table} ({'; '.join(p for p in parts if p)})")
    return changes


def _id_change_share(
    conn: duckdb.DuckDBPyConnection, tables: SourceTables, since: datetime
) -> tuple[int, int] | None:
    if tables.columns("main", "customer_id_history") is None or tables.columns("main", "customers") is None:
        return None  # a warehouse without identity resolution (a sync-only test world)
    history = tables.relation("main", "customer_id_history", ["old_customer_id", "changed_at"])
    customers_relation = tables.relation("main", "customers", ["customer_id"])
    changed = conn.execute(
        f"select count(distinct old_customer_id) from {history} where cast(changed_at as timestamp) > ?",
        [since],
    ).fetchone()
    customers = conn.execute(f"select count(*) from {customers_relation}").fetchone()
    if not changed or not customers:
        return None
    return int(changed[0]), int(customers[0])


def _failed_freshness(freshness_path: Path | None, since: datetime) -> list[str]:
    """Sources whose last `dbt source freshness` (run after `since`) ended in error."""
    if freshness_path is None or not freshness_path.exists():
        return []
    try:
        data = json.loads(freshness_path.read_text())
        generated = datetime.fromisoformat(data["metadata"]["generated_at"].replace("Z", "+00:00"))
    except (ValueError, KeyError, TypeError):
        log.warning("cannot read dbt's freshness results %s; treating freshness as failed", freshness_path)
        return [str(freshness_path)]
    if generated.tzinfo is not None:
        generated = generated.astimezone(UTC).replace(tzinfo=None)
    if generated <= since:
        return []
    # An empty table has no load time (dbt reports the year 1): no data arrived, rather than old data;
    # the build counts it as `empty` (orchestration/build/pipeline.check_source_freshness).
    return sorted(
        str(result.get("unique_id", "?")).removeprefix("source.")
        for result in data.get("results") or []
        if result.get("status") in ("error", "runtime error")
        and not str(result.get("max_loaded_at") or "").startswith("0001-01-01")
    )


def upstream_changes(
    conn: duckdb.DuckDBPyConnection,
    source: SyncSource,
    since: datetime,
    *,
    id_change_share: float,
    freshness_path: Path | None = None,
) -> list[str]:
    """Why removals found now are suspect: one sentence per upstream change recorded after `since`
    (schema drift, failed freshness, more than `id_change_share` of customers changing id)."""
    reasons = []
    with source.open(conn) as tables:
        drift = _schema_changes(conn, tables, since)
        ids = _id_change_share(conn, tables, since)
    if drift:
        reasons.append(f"raw schema changed: {', '.join(drift)}")
    if ids is not None:
        changed, customers = ids
        if customers and changed / customers > id_change_share:
            reasons.append(
                f"{changed} of {customers} customers ({changed / customers:.1%}) changed customer id, "
                f"above hold_id_change_share {id_change_share:.0%}"
            )
    stale = _failed_freshness(freshness_path, since)
    if stale:
        reasons.append(f"freshness check failed: {', '.join(stale)}")
    return reasons
