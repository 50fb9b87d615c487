"""Erasure with proof, suppression and unsuppression, each going through write-audit-publish.

An erase finds the person's whole identity cluster, then:
1. in a build copy of the warehouse: deletes their rows from every raw table and every carried-forward
   table, writes the suppression list, rebuilds and tests with dbt, rewrites the file so no deleted row
   survives in free blocks, scans every table and the file's bytes, and publishes only on zero hits;
2. rewrites the raw landing files without their rows;
3. takes them out of sync state (kept in the ledger only until each destination confirmed) and the
   published sync history;
4. calls each destination's deletion API;
5. scans everything again and stores the proof: salted hashes of the terms, hits per table and file.
"""

from __future__ import annotations

import logging
import shutil
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import duckdb

from orchestration.pipeline import run_dbt
from orchestration.privacy.cluster import Cluster, RawMatch, find_cluster, match_raw_rows, parse_subject
from orchestration.privacy.destinations import erase_pending
from orchestration.privacy.files import compact_duckdb, rewrite_parquet_without, scan_parquet
from orchestration.privacy.hashing import salted_hash, suppression_hash
from orchestration.privacy.ledger import Ledger, ledger_path, publish_ledger, utcnow
from orchestration.privacy.scan import (
    byte_terms,
    delete_matching,
    normalise_terms,
    scan_bytes,
    scan_tables,
    tables_of,
)
from orchestration.settings import Settings
from orchestration.sync.config import SyncConfig
from orchestration.sync.state import publish_state
from orchestration.syncs import history_path, project_syncs, state_path
from orchestration.warehouse import (
    Audit,
    DuckDBWarehouse,
    PublishBlocked,
    open_file,
    open_read_only,
    raw_files,
    writer_lock,
)

log = logging.getLogger(__name__)

SUPPRESSION_TABLE = "privacy_suppression_list"


class PrivacyError(RuntimeError):
    """A request could not be carried out; the ledger says which step failed and why."""


@dataclass
class RequestResult:
    request_id: str
    kind: str
    status: str
    steps: list[dict[str, Any]] = field(default_factory=list)
    proof: dict[str, Any] | None = None
    customers: int = 0


def _require_duckdb(settings: Settings) -> None:
    if settings.target != "duckdb":
        raise PrivacyError(
            "erase/suppress/unsuppress run on the DuckDB warehouse; on Postgres the suppression list works "
            "(table privacy_suppression_list in the published schema) but erasure is not implemented yet"
        )


def cluster_terms(cluster: Cluster, matches: dict[tuple[str, str], RawMatch]) -> list[str]:
    """Everything that identifies the person: normalised identifiers, customer ids, and each source's own
    spelling of their identifiers."""
    terms = {value for _, value in cluster.identifiers} | set(cluster.customer_ids)
    for match in matches.values():
        terms |= match.raw_values
    return normalise_terms(terms)


def write_suppression_table(con: duckdb.DuckDBPyConnection, hashes: list[tuple[str, str]]) -> None:
    """The list staging reads (through stg_privacy__suppressed_identifiers), beside the models."""
    con.execute(
        f"create or replace table main.{SUPPRESSION_TABLE} (identifier_type varchar, identifier_hash varchar)"
    )
    if hashes:
        con.executemany(f"insert into main.{SUPPRESSION_TABLE} values (?, ?)", [list(h) for h in hashes])


def write_suppression_table_postgres(settings: Settings, hashes: list[tuple[str, str]]) -> None:
    """The same list in the published Postgres schema, replaced in one transaction; the next build copies
    it into the build schema with the other published tables, and its staging quarantines the rows."""
    import psycopg2
    import psycopg2.extras

    schema = settings.postgres.published_schema
    with psycopg2.connect(**settings.postgres.connect_kwargs()) as con, con.cursor() as cur:
        cur.execute(f'create schema if not exists "{schema}"')
        cur.execute(f'drop table if exists "{schema}".{SUPPRESSION_TABLE}')
        cur.execute(
            f'create table "{schema}".{SUPPRESSION_TABLE} (identifier_type text, identifier_hash text)'
        )
        if hashes:
            psycopg2.extras.execute_values(
                cur, f'insert into "{schema}".{SUPPRESSION_TABLE} values %s', [tuple(h) for h in hashes]
            )


def _rebuild_and_publish(
    settings: Settings, edit: Callable[[duckdb.DuckDBPyConnection], dict[str, Any]], terms: list[str]
) -> dict[str, Any]:
    """Write-audit-publish around `edit`: copy the published file, edit the copy, dbt build and test it,
    rewrite it compactly, check no term is left (SQL and bytes), and publish. Holds the writer lock."""
    warehouse = DuckDBWarehouse(settings)
    with writer_lock(settings):
        warehouse.prepare_build()
        con = open_file(settings.build_db)
        try:
            report = edit(con)
            con.execute("checkpoint warehouse")
        finally:
            con.close()
        run_results = run_dbt(settings, ["build"])
        audit = Audit.from_run_results(run_results)
        audit.write(settings.audit_path)
        if not audit.passed:
            raise PublishBlocked(
                f"the rebuild failed its audit ({len(audit.failures)} failing nodes: "
                + "; ".join(f["node"] for f in audit.failures[:5])
                + "); nothing was published"
            )
        compact_duckdb(settings.build_db)
        if terms:
            con = open_read_only(settings.build_db)
            try:
                left = {s.table: s.hits for s in scan_tables(con, terms) if s.hits}
            finally:
                con.close()
            byte_hits = scan_bytes(settings.build_db, terms)
            if left or byte_hits:
                raise PublishBlocked(
                    f"the rebuilt warehouse still holds the person: {left or ''} {byte_hits} byte hits"
                )
        warehouse.publish()
        _clean_build_folder(settings)
    report["tests_passed"] = audit.tests_passed
    return report


def _clean_build_folder(settings: Settings) -> None:
    """Nothing of a build may stay behind: a WAL, a compaction temp file, an earlier failed build."""
    folder = settings.build_db.parent
    for path in folder.glob(f"{settings.build_db.name}*"):
        path.unlink(missing_ok=True)
    for path in folder.glob(f".{settings.build_db.name}*"):
        path.unlink(missing_ok=True)


def _erase_in_build(
    cluster: Cluster,
    matches: dict[tuple[str, str], RawMatch],
    terms: list[str],
    hashes: list[tuple[str, str]],
) -> Callable[[duckdb.DuckDBPyConnection], dict[str, Any]]:
    def edit(con: duckdb.DuckDBPyConnection) -> dict[str, Any]:
        deleted: dict[str, int] = {}
        for (source, table), match in matches.items():
            if not match.ids:
                continue
            relation = f'"raw_{source}"."{table}"'
            ids = ", ".join("'" + str(i).replace("'", "''") + "'" for i in match.ids)
            removed = con.execute(
                f'delete from {relation} where cast("{match.raw.raw_id}" as varchar) in ({ids}) returning 1'
            ).fetchall()
            deleted[f"raw_{source}.{table}"] = len(removed)
        for schema, table in tables_of(con):
            if table == SUPPRESSION_TABLE:
                continue
            removed_count = delete_matching(con, schema, table, terms)
            if removed_count:
                name = f"{schema}.{table}" if schema != "main" else table
                deleted[name] = deleted.get(name, 0) + removed_count
        write_suppression_table(con, hashes)
        return {"deleted_rows": deleted}

    return edit


def _erase_exports(settings: Settings, terms: list[str]) -> int:
    """Access exports written into the warehouse folder hold the person too: delete those that do."""
    folder = settings.published_db.parent / "privacy_exports"
    removed = 0
    for path in sorted(folder.glob("*.json")) if folder.exists() else []:
        if scan_bytes(path, terms):
            path.unlink()
            removed += 1
    return removed


def _erase_landing_files(
    settings: Settings, matches: dict[tuple[str, str], RawMatch], terms: list[str]
) -> dict[str, int]:
    """Rewrite the Parquet files under the data folder without the person's rows: the raw landing files
    (by record id and by term) and any other (the generator's planted truth, Parquet exports)."""
    removed = {}
    raw = {path: (source, table) for source, table, path in raw_files(settings.raw_dir)}
    for path in sorted(settings.data_dir.rglob("*.parquet")) if settings.data_dir.exists() else []:
        match = matches.get(raw[path]) if path in raw else None
        count = rewrite_parquet_without(
            path, terms, match.raw.raw_id if match else None, [str(i) for i in match.ids] if match else []
        )
        if count:
            removed[str(path.relative_to(settings.data_dir))] = count
    return removed


def _erase_sync_state(
    settings: Settings, ledger: Ledger, request_id: str, cluster: Cluster, terms: list[str]
) -> dict[str, int]:
    """Move the person's sync state rows into the ledger's pending deletes, delete them and their record log
    rows and journal entries, rewrite the state file and republish the history copy."""
    path = state_path(settings)
    if not path.exists():
        return {}
    from orchestration.privacy.scan import columns_of, match_condition

    counts: dict[str, int] = {}
    try:
        con = duckdb.connect(str(path))
    except duckdb.IOException as exc:
        raise PrivacyError(f"the sync state {path} is in use (a sync is running): {exc}") from None
    try:
        keys = list(cluster.customer_ids)
        for (table,) in con.execute(
            "select table_name from duckdb_tables() where database_name = current_database() "
            "and starts_with(table_name, 'state__')"
        ).fetchall():
            sync_name = table[len("state__") :]
            condition = match_condition(columns_of(con, "main", table), terms) or "false"
            where = f"key in (select unnest(?)) or ({condition})"
            rows = con.execute(
                f"select key, destination_id, payload from {table} where {where}", [keys]
            ).fetchall()
            if not rows:
                continue
            ledger.add_pending(request_id, sync_name, [(str(k), d, p) for k, d, p in rows])
            con.execute(f"delete from {table} where {where}", [keys])
            counts[table] = len(rows)
            keys.extend(str(k) for k, _, _ in rows if str(k) not in keys)
        condition = match_condition(columns_of(con, "main", "sync_record_log"), terms) or "false"
        removed = con.execute(
            f"delete from sync_record_log where key in (select unnest(?)) or ({condition}) returning 1",
            [keys],
        ).fetchall()
        counts["sync_record_log"] = len(removed)
        counts["sync_journal"] = _erase_from_journal(con, keys, terms)
        con.execute("checkpoint")
    finally:
        con.close()
    compact_duckdb(path)
    publish_state(path, history_path(settings))
    return counts


def _erase_from_journal(con: duckdb.DuckDBPyConnection, keys: list[str], terms: list[str]) -> int:
    """Take the person's entries out of unconfirmed batches (the rest of each batch is still resent)."""
    import json

    wanted = set(keys)
    lowered = byte_terms(terms)
    removed = 0
    for idempotency_key, items in con.execute("select idempotency_key, items from sync_journal").fetchall():
        entries = json.loads(items)
        kept = [
            e
            for e in entries
            if str(e.get("k")) not in wanted and not any(t in json.dumps(e).lower() for t in lowered)
        ]
        if len(kept) == len(entries):
            continue
        removed += len(entries) - len(kept)
        if kept:
            con.execute(
                "update sync_journal set items = ?, record_count = ? where idempotency_key = ?",
                [json.dumps(kept, separators=(",", ":")), len(kept), idempotency_key],
            )
        else:
            con.execute("delete from sync_journal where idempotency_key = ?", [idempotency_key])
    return removed


def prove(settings: Settings, terms: list[str], salt: str) -> dict[str, Any]:
    """Scan everything Tessera keeps for every term: each table of the published warehouse, the sync state
    and its published history (SQL), the bytes of those files and of anything left in the build folder,
    and every file under the data folder (Parquet through SQL, other files byte by byte)."""
    tables: dict[str, int] = {}
    files: dict[str, int] = {}
    scanned_rows = 0
    for label, path in (
        ("warehouse", settings.published_db),
        ("sync_state", state_path(settings)),
        ("sync_history", history_path(settings)),
    ):
        if not path.exists():
            continue
        con = open_read_only(path)
        try:
            for scan in scan_tables(con, terms):
                tables[f"{label}:{scan.table}"] = scan.hits
                scanned_rows += scan.rows
        finally:
            con.close()
        files[str(path)] = scan_bytes(path, terms)
    for folder in (settings.build_db.parent, settings.published_db.parent / "privacy_exports"):
        for path in sorted(folder.glob("*")) if folder.exists() else []:
            if path.is_file():
                files[str(path)] = scan_bytes(path, terms)
    if settings.data_dir.exists():
        for path in sorted(settings.data_dir.rglob("*")):
            if not path.is_file():
                continue
            files[str(path)] = (
                scan_parquet(path, terms) if path.suffix == ".parquet" else scan_bytes(path, terms)
            )
    total = sum(tables.values()) + sum(files.values())
    return {
        "scanned_at": utcnow().isoformat(),
        "salt": salt,
        "term_hashes": sorted(salted_hash(salt, t) for t in terms),
        "terms": len(terms),
        "byte_terms": len(byte_terms(terms)),
        "tables_scanned": len(tables),
        "rows_scanned": scanned_rows,
        "files_scanned": len(files),
        "hits_per_table": tables,
        "hits_per_file": files,
        "total_hits": total,
    }


def erase(
    settings: Settings,
    subject: str,
    *,
    syncs: list[SyncConfig] | None = None,
    env: Mapping[str, str] | None = None,
) -> RequestResult:
    """Erase the whole identity cluster of `subject` (`TYPE:VALUE`); see the module docstring."""
    _require_duckdb(settings)
    subject_type, subject_value = parse_subject(subject)
    syncs = project_syncs(settings) if syncs is None else syncs
    with Ledger(ledger_path(settings)) as ledger:
        request = ledger.new_request("erase", subject_type, subject_value)
        rid = request.request_id
        ledger.set_status(rid, "in_progress")
        try:
            con = open_read_only(settings.published_db)
            try:
                cluster = find_cluster(con, subject_type, subject_value)
                matches = match_raw_rows(con, cluster)
            finally:
                con.close()
            terms = cluster_terms(cluster, matches)
            raw_rows = sum(len(m.ids) for m in matches.values())
            ledger.step(
                rid,
                "locate",
                "done",
                f"{len(cluster.customer_ids)} customer(s), {len(cluster.identifiers)} identifiers, "
                f"{raw_rows} raw records in {sum(1 for m in matches.values() if m.ids)} tables",
            )
            hashes = sorted({(t, suppression_hash(t, v)) for t, v in cluster.identifiers})
            ledger.suppress(rid, hashes)
            all_hashes = ledger.suppression_list()
            ledger.step(rid, "suppress", "done", f"{len(hashes)} identifier hashes on the suppression list")
            report = _rebuild_and_publish(
                settings, _erase_in_build(cluster, matches, terms, all_hashes), terms
            )
            deleted = report["deleted_rows"]
            ledger.step(
                rid,
                "warehouse",
                "done",
                f"{sum(deleted.values())} rows deleted in {len(deleted)} tables, rebuilt, "
                f"{report['tests_passed']} tests passed, rewritten and published",
            )
            exports = _erase_exports(settings, terms)
            if exports:
                ledger.step(
                    rid, "access_exports", "done", f"{exports} earlier export file(s) of this person deleted"
                )
            landing = _erase_landing_files(settings, matches, terms)
            ledger.step(
                rid,
                "landing_files",
                "done",
                f"{sum(landing.values())} rows removed from {len(landing)} raw files",
            )
            state = _erase_sync_state(settings, ledger, rid, cluster, terms)
            ledger.step(
                rid, "sync_state", "done", ", ".join(f"{k}: {v}" for k, v in state.items()) or "nothing held"
            )
            held = {p.sync_name for p in ledger.pending() if p.request_id == rid}
            for config in syncs:
                if config.name not in held:
                    ledger.step(
                        rid, "destination", "skipped", "the person was never synced here", target=config.name
                    )
            erase_pending(ledger, syncs, env=env)
            # Earlier requests' deletes were retried too: those now confirmed are complete.
            for earlier in ledger.open_requests():
                ledger.set_status(earlier, _final_status(ledger, earlier))
            proof = prove(settings, terms, request.salt)
            ledger.set_proof(rid, proof)
            ledger.step(
                rid,
                "proof",
                "done" if proof["total_hits"] == 0 else "failed",
                f"{proof['total_hits']} hits in {proof['tables_scanned']} tables and {proof['files_scanned']} files",
            )
        except Exception as exc:
            ledger.step(rid, "error", "failed", f"{type(exc).__name__}: {exc}")
            ledger.set_status(rid, "failed", result={"error": str(exc)})
            raise
        status = _final_status(ledger, rid)
        ledger.set_status(
            rid, status, result={"customers": len(cluster.customer_ids), "deleted_rows": deleted}
        )
        steps = ledger.steps(rid)
    _finish_ledger(settings)
    return RequestResult(rid, "erase", status, steps, proof, len(cluster.customer_ids))


def _final_status(ledger: Ledger, request_id: str) -> str:
    """completed; pending while a destination still has to confirm; failed when the proof found hits."""
    steps = ledger.steps(request_id)
    if any(s["status"] == "failed" and s["step"] != "destination" for s in steps):
        return "failed"
    if any(p.request_id == request_id for p in ledger.pending()):
        return "pending"
    return "completed"


def _finish_ledger(settings: Settings) -> None:
    """Rewrite the ledger file (no resolved pending payload stays in free blocks) and publish its copy."""
    compact_duckdb(ledger_path(settings))
    publish_ledger(settings)


def retry(
    settings: Settings,
    *,
    syncs: list[SyncConfig] | None = None,
    env: Mapping[str, str] | None = None,
    only_sync: str | None = None,
) -> list[dict[str, Any]]:
    """Retry every destination delete still pending (of any request); requests whose last one is confirmed
    become completed."""
    syncs = project_syncs(settings) if syncs is None else syncs
    path = ledger_path(settings)
    if not path.exists():
        return []
    with Ledger(path) as ledger:
        if not ledger.pending(only_sync):
            return []
        outcomes = erase_pending(ledger, syncs, env=env, only_sync=only_sync)
        for rid in {p for p in ledger.open_requests()}:
            ledger.set_status(rid, _final_status(ledger, rid))
    _finish_ledger(settings)
    return [o.__dict__ | {"failed_keys": len(o.failed_keys)} for o in outcomes]


def retry_pending_for_sync(settings: Settings, config: SyncConfig) -> None:
    """Called by every sync run: a ledger that cannot be opened now leaves its retries for a later run."""
    if not ledger_path(settings).exists():
        return
    try:
        outcomes = retry(settings, syncs=[config], only_sync=config.name)
    except RuntimeError as exc:
        log.warning("privacy deletes pending for %s not retried now: %s", config.name, exc)
        return
    for outcome in outcomes:
        log.info("privacy deletes for %s: %s", config.name, outcome["status"])


def set_suppression(settings: Settings, subject: str, *, suppress: bool) -> RequestResult:
    """`suppress`: put the cluster's identifiers on the list (their rows are quarantined from the next build,
    and now); `unsuppress`: lift the suppression that listed this identifier. Both rebuild and publish on
    DuckDB; on Postgres the list is written to the published schema and takes effect at the next build."""
    subject_type, subject_value = parse_subject(subject)
    kind = "suppress" if suppress else "unsuppress"
    with Ledger(ledger_path(settings)) as ledger:
        request = ledger.new_request(kind, subject_type, subject_value)
        rid = request.request_id
        try:
            if suppress and settings.target == "postgres":
                # No cluster lookup on Postgres yet: the identifier itself is suppressed.
                hashes = [(subject_type, suppression_hash(subject_type, subject_value))]
                ledger.suppress(rid, hashes)
                detail = f"{len(hashes)} identifier hash added"
            elif suppress:
                con = open_read_only(settings.published_db)
                try:
                    cluster = find_cluster(con, subject_type, subject_value)
                finally:
                    con.close()
                hashes = sorted({(t, suppression_hash(t, v)) for t, v in cluster.identifiers})
                ledger.suppress(rid, hashes)
                detail = f"{len(hashes)} identifier hashes of {len(cluster.customer_ids)} customer(s) added"
            else:
                removed, requests = ledger.unsuppress(suppression_hash(subject_type, subject_value))
                detail = f"{removed} hashes removed (listed by {', '.join(requests) or 'no request'})"
            ledger.step(rid, kind, "done", detail)
            hashes_now = ledger.suppression_list()
            if settings.target == "postgres":
                write_suppression_table_postgres(settings, hashes_now)
                ledger.step(rid, "warehouse", "done", "list written; it takes effect at the next build")
                ledger.set_status(rid, "completed")
                steps = ledger.steps(rid)
                return RequestResult(rid, kind, "completed", steps)

            def edit(con: duckdb.DuckDBPyConnection) -> dict[str, Any]:
                write_suppression_table(con, hashes_now)
                return {}

            _rebuild_and_publish(settings, edit, [])
            ledger.step(rid, "warehouse", "done", "rebuilt and published with the new suppression list")
            ledger.set_status(rid, "completed")
        except Exception as exc:
            ledger.step(rid, "error", "failed", f"{type(exc).__name__}: {exc}")
            ledger.set_status(rid, "failed", result={"error": str(exc)})
            raise
        steps = ledger.steps(rid)
    _finish_ledger(settings)
    return RequestResult(rid, kind, "completed", steps)


def reset_build_folder(settings: Settings) -> None:
    shutil.rmtree(settings.build_db.parent, ignore_errors=True)
