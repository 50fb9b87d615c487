"""Consent at send: was consent valid when each record was sent? (the query, run on the published files)

The record log lives in the sync engine's own published file (warehouse/sync_history.duckdb; on
Postgres, the schema `<published>_sync`, read through the sync store: `audit_at_location`) and
consent history in the published warehouse. Both are attached read-only into an in-memory DuckDB
and joined by consent_at_send.sql, so the answer is as fresh as the last sync and the last build,
and neither file is ever locked for a writer.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import duckdb

from orchestration.settings import Settings
from orchestration.warehouse.interface import SyncLocation

SQL_PATH = Path(__file__).with_name("consent_at_send.sql")

COLUMNS = (
    "sent_at",
    "sync_name",
    "run_id",
    "record_key",
    "operation",
    "consent_basis",
    "consent_purpose",
    "consent_row_id",
    "consent_customer_id",
    "consent_row_status",
    "consent_row_source",
    "consent_valid_from",
    "consent_valid_to",
    "is_grant_for_purpose",
    "is_valid_at_sent_at",
    "is_consent_valid",
    "is_sent_without_valid_consent",
    "verdict",
)


class ConsentAuditError(RuntimeError):
    """A file the audit needs is missing or unreadable."""


@dataclass
class ConsentAudit:
    rows: list[dict[str, Any]]

    @property
    def sends(self) -> int:
        return len(self.rows)

    @property
    def invalid(self) -> list[dict[str, Any]]:
        return [row for row in self.rows if row["is_sent_without_valid_consent"]]

    def per_sync(self) -> list[dict[str, Any]]:
        counts: dict[str, dict[str, Any]] = {}
        for row in self.rows:
            entry = counts.setdefault(
                row["sync_name"], {"sync_name": row["sync_name"], "sends": 0, "valid": 0}
            )
            entry["sends"] += 1
            entry["valid"] += int(bool(row["is_consent_valid"]))
        for entry in counts.values():
            entry["without_valid_consent"] = entry["sends"] - entry["valid"]
        return sorted(counts.values(), key=lambda e: e["sync_name"])

    def verdicts(self) -> dict[str, int]:
        counts: dict[str, int] = {}
        for row in self.rows:
            counts[row["verdict"]] = counts.get(row["verdict"], 0) + 1
        return dict(sorted(counts.items(), key=lambda kv: -kv[1]))


def consent_at_send_sql() -> str:
    return SQL_PATH.read_text()


def audit_consent_at_send(
    warehouse_path: Path,
    history_path: Path,
    *,
    customer_keyed_syncs: list[str],
    sync_name: str | None = None,
) -> ConsentAudit:
    """Every delivered record with the consent row that justified it and the verdict.

    `customer_keyed_syncs`: syncs whose record key is a customer_id, for which the consent row must
    be that customer's. Opens both files read-only and never holds them after returning."""
    for label, path in (("published warehouse", warehouse_path), ("sync history", history_path)):
        if not Path(path).exists():
            raise ConsentAuditError(f"no {label} at {path}: run the build and a sync first")
    con = duckdb.connect()
    try:
        con.execute(f"attach '{warehouse_path}' as warehouse (read_only)")
        con.execute(f"attach '{history_path}' as sync_history (read_only)")
        sql = f"select * from ({consent_at_send_sql()}) where $sync_name is null or sync_name = $sync_name"
        cursor = con.execute(
            sql + " order by sent_at, sync_name, record_key",
            {"customer_keyed_syncs": list(customer_keyed_syncs), "sync_name": sync_name},
        )
        names = [d[0] for d in cursor.description]
        rows = [dict(zip(names, values, strict=True)) for values in cursor.fetchall()]
    except duckdb.Error as exc:
        raise ConsentAuditError(f"the consent audit could not read the published files: {exc}") from exc
    finally:
        con.close()
    return ConsentAudit(rows)


def audit_at_location(
    location: SyncLocation, *, customer_keyed_syncs: list[str], sync_name: str | None = None
) -> ConsentAudit:
    """The same audit wherever the warehouse keeps its data and its sync history (DuckDB files, or the
    Postgres published and `_sync` schemas), read through the sync stores' read-only sources: the consent
    tables are copied into an in-memory DuckDB, then the query runs against the record log."""
    from orchestration.sync.stores import open_source

    warehouse = open_source(location)
    history = open_source(replace(location, published=location.history or location.state))
    for label, source in (("published warehouse", warehouse), ("sync history", history)):
        if not source.exists():
            raise ConsentAuditError(f"no {label} at {source.describe()}: run the build and a sync first")
    sql = consent_at_send_sql()
    con = duckdb.connect()
    try:
        with warehouse.open(con) as tables:
            for table in ("consent_history", "customer_id_history"):
                columns = tables.columns("main", table)
                if columns is None:
                    raise ConsentAuditError(f"the published warehouse has no {table}: run the build first")
                con.execute(
                    f"create temp table _audit_{table} as select * from {tables.relation('main', table, columns)}"
                )
                sql = sql.replace(f"warehouse.main.{table}", f"_audit_{table}")
        with history.open(con) as tables:
            columns = tables.columns("main", "sync_record_log")
            if columns is None:
                raise ConsentAuditError(f"no sync record log at {history.describe()}: run a sync first")
            sql = sql.replace(
                "sync_history.main.sync_record_log", tables.relation("main", "sync_record_log", columns)
            )
            cursor = con.execute(
                f"select * from ({sql}) where $sync_name is null or sync_name = $sync_name "
                "order by sent_at, sync_name, record_key",
                {"customer_keyed_syncs": list(customer_keyed_syncs), "sync_name": sync_name},
            )
            names = [d[0] for d in cursor.description]
            rows = [dict(zip(names, values, strict=True)) for values in cursor.fetchall()]
    except duckdb.Error as exc:
        raise ConsentAuditError(f"the consent audit could not read the published data: {exc}") from exc
    finally:
        con.close()
    return ConsentAudit(rows)


def audit_project(settings: Settings, sync_name: str | None = None) -> ConsentAudit:
    """The audit on this project's published warehouse and sync history, on any warehouse that runs syncs."""
    from orchestration.sync.project import project_syncs, sync_location

    keyed = [c.name for c in project_syncs(settings) if c.source.primary_key == "customer_id"]
    return audit_at_location(sync_location(settings), customer_keyed_syncs=keyed, sync_name=sync_name)
