"""The access export: everything Tessera holds about one person's whole identity cluster, as one JSON file."""

from __future__ import annotations

import datetime as dt
import decimal
import json
import logging
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from orchestration.privacy.backend import erasure_backend
from orchestration.privacy.cluster import (
    find_cluster,
    match_person_source_rows,
    match_raw_rows,
    parse_subject,
    person_rows_condition,
)
from orchestration.privacy.erase import (
    PrivacyError,
    RequestResult,
    cluster_terms,
    recorded_subject,
    review_threshold,
)
from orchestration.privacy.files import compact_duckdb
from orchestration.privacy.id_columns import IdentifierColumns, identifier_columns
from orchestration.privacy.ledger import Ledger, Request, ledger_path, publish_ledger
from orchestration.privacy.loaders import LoaderSource, loader_tables
from orchestration.privacy.scan import any_of, columns_of, match_condition, parent_condition, tables_of
from orchestration.privacy.unlinked import extend_cluster, probable_records
from orchestration.settings import Settings
from orchestration.warehouse.files import written_aside

log = logging.getLogger(__name__)

# The marts an analyst would name first, in this order; every other table with a customer_id follows.
SECTIONS = {
    "profile": "customers",
    "identifiers": "customer_identifiers",
    "source_records": "customer_source_records",
    "events": "events",
    "orders": "orders",
    "traits": "customer_traits",
    "audience_memberships": "audience_memberships",
    "audience_history": "audience_membership_history",
    "consent_history": "consent_history",
    "consent_current": "consent_current",
    "identity_links": "identity_links",
    "customer_id_history": "customer_id_history",
}


def _json_default(value: Any) -> Any:
    if isinstance(value, dt.datetime | dt.date | dt.time):
        return value.isoformat()
    if isinstance(value, decimal.Decimal):
        return float(value)
    if isinstance(value, bytes):
        return value.hex()
    return str(value)


def _rows(con: Any, sql: str, params: list[Any] | None = None) -> list[dict[str, Any]]:
    cursor = con.execute(sql, params or [])
    names = [d[0] for d in cursor.description]
    return [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]


def collect(
    settings: Settings, subject_type: str, subject_value: str, *, include_probable: bool = False
) -> dict[str, Any]:
    """Raises NoWarehouse when nothing is published."""
    backend = erasure_backend(settings)
    with backend.published_session() as session, backend.loader_file_sessions() as files:
        return _collect(
            settings,
            session,
            backend.published_schema,
            subject_type,
            subject_value,
            include_probable,
            backend.loader_reach(),
            files,
        )


def _collect(
    settings: Settings,
    con: Any,
    schema: str,
    subject_type: str,
    subject_value: str,
    include_probable: bool = False,
    loaders: tuple[list[LoaderSource], list[LoaderSource]] = ([], []),
    loader_files: Sequence[tuple[str, Any, list[LoaderSource]]] = (),
) -> dict[str, Any]:
    """`con` reads the published warehouse, whose models are in `schema` (the backend's read session);
    `loaders` are the sources read in place it reaches and those it does not (backend.loader_reach), and
    `loader_files` the loaders' own database files read besides it (backend.loader_file_sessions)."""
    cluster = find_cluster(con, subject_type, subject_value)
    # Listed, not exported: records that probably are the person's but were not linked (unlinked.py);
    # `tessera privacy export --include-probable` exports their customers too.
    probable = probable_records(con, cluster, review_threshold())
    extended = extend_cluster(con, cluster, probable) if include_probable else []
    matches = match_raw_rows(con, cluster)
    people = match_person_source_rows(con, cluster)
    ids = cluster.customer_ids
    data: dict[str, Any] = {"customer_ids": ids}
    data["probable_records"] = [
        r.to_json() | {"included": r.customer_id is not None and r.customer_id in extended} for r in probable
    ]
    tables = {table for table_schema, table in tables_of(con) if table_schema == schema}
    with_customer = {
        table for table in tables if any(name == "customer_id" for name, _ in columns_of(con, schema, table))
    }
    for section, table in SECTIONS.items():
        if table in with_customer:
            data[section] = _rows(
                con, f'select * from "{table}" where customer_id in (select unnest(?))', [ids]
            )
    for table in sorted(with_customer - set(SECTIONS.values())):
        if table.startswith(("int_", "base_", "stg_")):
            continue
        data.setdefault("other_tables", {})[table] = _rows(
            con, f'select * from "{table}" where customer_id in (select unnest(?))', [ids]
        )
    raw: dict[str, list[dict[str, Any]]] = {}
    for (source, table), match in matches.items():
        if not match.ids:
            continue
        quoted = ", ".join("'" + str(i).replace("'", "''") + "'" for i in match.ids)
        raw[f"{source}.{table}"] = _without_load_time(
            _rows(
                con,
                f'select * from "raw_{source}"."{table}" where cast("{match.raw.raw_id}" as varchar) in ({quoted})',
            )
        )
    # Declared person sources (sources/person_sources.yml): the rows as loaded, each with its original
    # columns in raw_record, and their external ids.
    if people.rows:
        for landing in ("records", "external_ids"):
            raw[f"person_sources.{landing}"] = _without_load_time(
                _rows(
                    con,
                    f"select * from raw_person_sources.{landing} where {person_rows_condition(people.rows)} "
                    "order by source_name, table_name, row_number",
                )
            )
    data["raw_source_records"] = raw
    terms = cluster_terms(cluster, matches, people)
    reached, unreached = loaders
    data["loader_records"] = _loader_rows(con, reached, terms, identifier_columns(settings))
    for name, file_con, in_file in loader_files:
        rows = _loader_rows(file_con, in_file, terms, IdentifierColumns.of(in_file))
        data["loader_records"] |= {f"{name}:{table}": found for table, found in rows.items()}
    read_in_files = {source for _, _, in_file in loader_files for source in in_file}
    unreached = [source for source in unreached if source not in read_in_files]
    data["loader_sources_not_searched"] = {
        source.label: "in another database than the warehouse's connection: ask the loader's owner"
        for source in unreached
    }
    data["quarantined_rows"] = _rows(
        con,
        "select * from quarantined_rows where "
        + (match_condition([("raw_record", "VARCHAR")], terms) or "false"),
    )
    data.update(_sync_tables(settings, ids))
    return data


def _loader_rows(
    con: Any, sources: list[LoaderSource], terms: list[str], id_columns: IdentifierColumns
) -> dict[str, list[dict[str, Any]]]:
    """The person's rows in the tables of the sources read in place, as the loader wrote them: rows holding
    one of their terms, matched as an erase deletes them (exact terms in identifier columns only), and the
    rows of a child table whose parent row is theirs (an order's lines)."""
    found: dict[str, list[dict[str, Any]]] = {}
    if not sources or not terms:
        return found
    for schema, table in loader_tables(tables_of(con), sources):
        own = match_condition(columns_of(con, schema, table), terms, id_columns(schema, table))
        through = parent_condition(con, schema, table, terms, id_columns, id_columns.parent)
        condition = any_of(own, through)
        if not condition:
            continue
        rows = _rows(con, f'select * from "{schema}"."{table}" where {condition}')
        if rows:
            found[f"{schema}.{table}"] = rows
    return found


def _without_load_time(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [{k: v for k, v in row.items() if k != "_loaded_at"} for row in rows]


# The sync engine's tables a person's records are in, keyed by the sync key (customer_id for customer,
# audience and journey syncs): the export section, the table and its order. Erasure deletes the same
# rows (SyncStore.forget).
SYNC_SECTIONS = {
    "sync_log": ("sync_record_log", "logged_at, sync_name"),
    # The confirmed adds frequency caps count: which sync sent to the person on which channel, and when.
    "sync_sends": ("sync_sends", "sent_at, sync_name"),
    # What a sync holds back for the person now (quiet hours, a frequency cap), and why.
    "sync_waiting": ("sync_waiting", "since, sync_name"),
}


def _sync_tables(settings: Settings, keys: list[str]) -> dict[str, list[dict[str, Any]]]:
    """The person's rows of the sync record log, sync_sends and sync_waiting, wherever the warehouse
    keeps them (DuckDB: the published history file; Postgres: the `_sync` schema), read through the
    sync store's read-only source. A table a store does not have yet (no sync ran) is an empty list."""
    import dataclasses

    import duckdb

    from orchestration.sync.project import sync_location
    from orchestration.sync.stores import open_source

    found: dict[str, list[dict[str, Any]]] = {section: [] for section in SYNC_SECTIONS}
    location = sync_location(settings)
    history = open_source(dataclasses.replace(location, published=location.history or location.state))
    if not keys or not history.exists():
        return found
    con = duckdb.connect()
    try:
        with history.open(con) as tables:
            for section, (table, order) in SYNC_SECTIONS.items():
                columns = tables.columns("main", table)
                if columns is None:
                    continue
                relation = tables.relation("main", table, columns)
                found[section] = _rows(
                    con,
                    f"select * from {relation} where key in (select unnest(?)) order by {order}",
                    [keys],
                )
    finally:
        con.close()
    return found


def export(
    settings: Settings,
    subject: str,
    out: Path | None = None,
    *,
    request_id: str | None = None,
    include_probable: bool = False,
) -> tuple[RequestResult, Path]:
    """Write the export to `out` (default: <warehouse folder>/privacy_exports/<request id>.json).
    `request_id` carries out that recorded access request (export_request)."""
    subject_type, subject_value = parse_subject(subject)
    with Ledger(ledger_path(settings)) as ledger:
        if request_id is None:
            request = ledger.new_request("access", subject_type, subject_value)
        else:
            recorded = ledger.request(request_id)
            if recorded is None or recorded["kind"] != "access":
                raise PrivacyError(f"{request_id} is not an access request in the ledger")
            request = Request(
                request_id,
                "access",
                recorded["subject_type"],
                recorded["subject_hash"],
                recorded["salt"],
                recorded["received_at"],
            )
        rid = request.request_id
        try:
            data = collect(settings, subject_type, subject_value, include_probable=include_probable)
            target = out or settings.published_db.parent / "privacy_exports" / f"{rid}.json"
            target.parent.mkdir(parents=True, exist_ok=True)
            document = {
                "request_id": rid,
                "generated_at": request.received_at.isoformat(),
                "subject": {"type": subject_type, "value": subject_value},
                "warehouse": str(settings.published_db),
                **data,
            }
            with written_aside(target) as tmp:
                tmp.write_text(json.dumps(document, default=_json_default, indent=2, ensure_ascii=False))
            counts = {k: len(v) for k, v in data.items() if isinstance(v, list | dict)}
            ledger.step(
                rid, "export", "done", f"{target} ({', '.join(f'{k} {v}' for k, v in counts.items())})"
            )
            status = "completed" if data["customer_ids"] else "completed_not_found"
            ledger.set_status(
                rid,
                "completed",
                result={"file": str(target), "counts": counts, "found": bool(data["customer_ids"])},
            )
            ledger.drop_subject(rid)
        except Exception as exc:
            ledger.step(rid, "error", "failed", f"{type(exc).__name__}: {exc}")
            ledger.set_status(rid, "failed", result={"error": str(exc)})
            raise
        steps = ledger.steps(rid)
    if request_id is not None:
        compact_duckdb(
            ledger_path(settings)
        )  # the recorded identifier must not stay in the file's free blocks
    publish_ledger(settings)
    return (
        RequestResult(
            rid,
            "access",
            status,
            steps,
            customers=len(data["customer_ids"]),
            probable=data["probable_records"],
        ),
        target,
    )


def export_request(
    settings: Settings, request_id: str, out: Path | None = None
) -> tuple[RequestResult, Path]:
    """Carry out an access request recorded with `tessera privacy request access`."""
    return export(settings, recorded_subject(settings, request_id, "access"), out, request_id=request_id)
