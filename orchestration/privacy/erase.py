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

from orchestration.build.pipeline import build_models, record_audit
from orchestration.person_sources.config import PersonSourcesConfig, load_config
from orchestration.privacy import postgres as pg
from orchestration.privacy.cluster import (
    RAW_TABLES,
    Cluster,
    NoWarehouse,
    PersonSourceMatch,
    RawMatch,
    find_cluster,
    match_person_source_rows,
    match_raw_rows,
    parse_subject,
    person_rows_condition,
)
from orchestration.privacy.destinations import erase_pending
from orchestration.privacy.files import compact_duckdb, rewrite_parquet_without, scan_parquet
from orchestration.privacy.hashing import salted_hash, suppression_hash
from orchestration.privacy.ledger import Ledger, ledger_path, publish_ledger, utcnow
from orchestration.privacy.masking import masked_file_path
from orchestration.privacy.person_sources import declared_files, erase_in_files
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
from orchestration.sync.project import history_path, project_syncs, state_path, sync_location
from orchestration.warehouse.audit import Audit, PublishBlocked
from orchestration.warehouse.connection import open_file, open_read_only, writer_lock
from orchestration.warehouse.duckdb import DuckDBWarehouse
from orchestration.warehouse.load import raw_files
from orchestration.warehouse.postgres import PostgresWarehouse

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


def _rebuild(settings: Settings, note: str) -> Audit:
    """dbt's phased build of the edited build copy; raises PublishBlocked if its audit fails."""
    audit = record_audit(settings, build_models(settings, reason="a privacy request")["results"])
    if not audit.passed:
        raise PublishBlocked(
            f"the rebuild failed its audit ({len(audit.failures)} failing nodes: "
            + "; ".join(f["node"] for f in audit.failures[:5])
            + f"); nothing was published{note}"
        )
    return audit


def cluster_terms(
    cluster: Cluster, matches: dict[tuple[str, str], RawMatch], people: PersonSourceMatch | None = None
) -> list[str]:
    """Everything that identifies the person: normalised identifiers, customer ids, and each source's own
    spelling of their identifiers."""
    terms = {value for _, value in cluster.identifiers} | set(cluster.customer_ids)
    for match in matches.values():
        terms |= match.raw_values
    if people is not None:
        terms |= people.raw_values
    return normalise_terms(terms)


@dataclass
class Located:
    """What an erase removes: the cluster, its raw rows, its person-source rows, and the scan terms."""

    cluster: Cluster
    matches: dict[tuple[str, str], RawMatch]
    people: PersonSourceMatch
    terms: list[str]

    def to_json(self) -> dict[str, Any]:
        return {
            "customer_ids": self.cluster.customer_ids,
            "identifiers": [list(i) for i in self.cluster.identifiers],
            "terms": self.terms,
            "raw_ids": {
                f"{s}.{t}": sorted(str(i) for i in m.ids) for (s, t), m in self.matches.items() if m.ids
            },
            "person_rows": sorted(list(r) for r in self.people.rows),
            "person_record_ids": {f"{s}\t{t}": sorted(ids) for (s, t), ids in self.people.record_ids.items()},
        }

    def merge(self, saved: dict[str, Any]) -> None:
        """Add what an earlier, unfinished attempt located: after it published, the warehouse no longer
        holds the person, but the landing files, sync state and proof still need every term."""
        cluster = self.cluster
        cluster.customer_ids = sorted(set(cluster.customer_ids) | set(saved.get("customer_ids", [])))
        cluster.identifiers = sorted(
            set(cluster.identifiers) | {(t, v) for t, v in saved.get("identifiers", [])}
        )
        self.terms = normalise_terms(set(self.terms) | set(saved.get("terms", [])))
        tables = {(raw.source, raw.table): raw for raw in RAW_TABLES}
        for name, ids in saved.get("raw_ids", {}).items():
            source, _, table = name.partition(".")
            if (source, table) not in tables:
                continue
            match = self.matches.setdefault(
                (source, table), RawMatch(tables[(source, table)], [], set(), set())
            )
            match.ids = sorted({str(i) for i in match.ids} | set(ids))
        self.people.rows |= {(s, t, int(n), str(r)) for s, t, n, r in saved.get("person_rows", [])}
        for name, ids in saved.get("person_record_ids", {}).items():
            source, _, table = name.partition("\t")
            self.people.record_ids.setdefault((source, table), set()).update(ids)


def locate(settings: Settings, subject_type: str, subject_value: str) -> Located:
    """The cluster of (type, value) in the published warehouse, with its raw and person-source rows."""
    if settings.target == "postgres":
        with pg.published_session(settings) as session:
            cluster = find_cluster(session, subject_type, subject_value)
            matches = match_raw_rows(session, cluster)
            people = match_person_source_rows(session, cluster)
    else:
        if not settings.published_db.exists():
            raise NoWarehouse(
                f"there is no published warehouse at {settings.published_db}: run a build first"
            )
        con = open_read_only(settings.published_db)
        try:
            cluster = find_cluster(con, subject_type, subject_value)
            matches = match_raw_rows(con, cluster)
            people = match_person_source_rows(con, cluster)
        finally:
            con.close()
    return Located(cluster, matches, people, cluster_terms(cluster, matches, people))


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
        audit = _rebuild(settings, "")
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
    located: Located, config: PersonSourcesConfig, hashes: list[tuple[str, str]]
) -> Callable[[duckdb.DuckDBPyConnection], dict[str, Any]]:
    def edit(con: duckdb.DuckDBPyConnection) -> dict[str, Any]:
        deleted: dict[str, int] = {}
        for (source, table), match in located.matches.items():
            if not match.ids:
                continue
            relation = f'"raw_{source}"."{table}"'
            ids = ", ".join("'" + str(i).replace("'", "''") + "'" for i in match.ids)
            removed = con.execute(
                f'delete from {relation} where cast("{match.raw.raw_id}" as varchar) in ({ids}) returning 1'
            ).fetchall()
            deleted[f"raw_{source}.{table}"] = len(removed)
        existing = set(tables_of(con))
        if located.people.rows:
            for landing in ("records", "external_ids"):
                if ("raw_person_sources", landing) in existing:
                    removed = con.execute(
                        f"delete from raw_person_sources.{landing} "
                        f"where {person_rows_condition(located.people.rows)} returning 1"
                    ).fetchall()
                    deleted[f"raw_person_sources.{landing}"] = len(removed)
        # A declared person-source table inside the warehouse file: by its record-id column too.
        for declared in config.sources:
            record_ids = sorted(located.people.record_ids.get((declared.name, declared.table_label), set()))
            schema, _, table = str(declared.table).partition(".")
            if declared.table is None or not record_ids or (schema, table) not in existing:
                continue
            quoted = ", ".join("'" + i.replace("'", "''") + "'" for i in record_ids)
            removed = con.execute(
                f'delete from "{schema}"."{table}" '
                f'where trim(cast("{declared.record_id}" as varchar)) in ({quoted}) returning 1'
            ).fetchall()
            if removed:
                deleted[f"{schema}.{table}"] = len(removed)
        for schema, table in tables_of(con):
            if table == SUPPRESSION_TABLE:
                continue
            removed_count = delete_matching(con, schema, table, located.terms)
            if removed_count:
                name = f"{schema}.{table}" if schema != "main" else table
                deleted[name] = deleted.get(name, 0) + removed_count
        write_suppression_table(con, hashes)
        return {"deleted_rows": deleted}

    return edit


def _erase_warehouse_postgres(
    settings: Settings, located: Located, config: PersonSourcesConfig, hashes: list[tuple[str, str]]
) -> dict[str, Any]:
    """Write-audit-publish on Postgres: the build schema starts as a copy of the published one; the person's
    rows leave the live raw tables and the copy in one transaction; dbt rebuilds and tests the build schema;
    every table deleted from is vacuumed (FULL); every table of every Tessera schema is scanned; the build
    schema is published only on zero hits (the old published schema is dropped by the publish)."""
    warehouse = PostgresWarehouse(settings)
    extra = pg.person_source_table_schemas(config)
    with writer_lock(settings):
        warehouse.prepare_build()
        deleted, notes = pg.delete_in_warehouse(
            settings, config, located.matches, located.people, located.terms, hashes
        )
        audit = _rebuild(settings, " (the raw rows are deleted already: run the erase again)")
        touched = [name for name, count in deleted.items() if count]
        vacuumed = pg.vacuum_full(settings, touched)
        if located.terms:
            left = {
                s.table: s.hits
                for s in pg.scan(settings, located.terms, extra, before_publish=True)
                if s.hits
            }
            if left:
                raise PublishBlocked(f"the rebuilt warehouse still holds the person: {left}")
        warehouse.publish()
    return {"deleted_rows": deleted, "tests_passed": audit.tests_passed, "vacuumed": vacuumed, "notes": notes}


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
    rows and journal entries (through the warehouse's sync store), rewrite any state file and republish the
    history copy."""
    from orchestration.privacy.scan import match_condition
    from orchestration.sync.stores import open_store, publish_history, state_exists, state_files

    location = sync_location(settings)
    if not state_exists(location):
        return {}
    try:
        store = open_store(location)
    except RuntimeError as exc:
        raise PrivacyError(f"the sync state {location.state} is in use (a sync is running): {exc}") from None
    try:
        counts = store.forget(
            list(cluster.customer_ids),
            lambda columns: match_condition(columns, terms),
            byte_terms(terms),
            lambda sync_name, rows: ledger.add_pending(request_id, sync_name, rows),
        )
    finally:
        store.close()
    for path in state_files(location):
        compact_duckdb(path)
    publish_history(location)
    return counts


def prove(
    settings: Settings, terms: list[str], salt: str, config: PersonSourcesConfig | None = None
) -> dict[str, Any]:
    """Scan everything Tessera keeps for every term: each table of the published warehouse (DuckDB: the
    file; Postgres: every table of every Tessera schema), the sync state and its published history (SQL),
    the bytes of the DuckDB files and of anything left in the build folder, every file under the data folder
    (Parquet through SQL, other files byte by byte) and every declared person-source file."""
    tables: dict[str, int] = {}
    files: dict[str, int] = {}
    scanned_rows = 0
    config = config if config is not None else load_config(settings)
    sources: list[tuple[str, Any]] = [
        ("sync_state", state_path(settings)),
        ("sync_history", history_path(settings)),
        ("masked_file", masked_file_path(settings)),
    ]
    if settings.target == "postgres":
        from orchestration.sync.stores import state_schemas

        extra = pg.person_source_table_schemas(config) + state_schemas(sync_location(settings))
        for scan in pg.scan(settings, terms, extra):
            tables[f"postgres:{scan.table}"] = scan.hits
            scanned_rows += scan.rows
    else:
        sources.insert(0, ("warehouse", settings.published_db))
    for label, path in sources:
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
    data_files = (
        sorted(p for p in settings.data_dir.rglob("*") if p.is_file()) if settings.data_dir.exists() else []
    )
    for path in [*data_files, *(p for p in declared_files(config) if p not in data_files)]:
        files[str(path)] = scan_parquet(path, terms) if path.suffix == ".parquet" else scan_bytes(path, terms)
    total = sum(tables.values()) + sum(files.values())
    proof: dict[str, Any] = {
        "scanned_at": utcnow().isoformat(),
        "salt": salt,
        "term_hashes": sorted(salted_hash(salt, t) for t in terms),
        "terms": len(terms),
        "byte_terms": len(byte_terms(terms)),
        "warehouse": settings.target,
        "tables_scanned": len(tables),
        "rows_scanned": scanned_rows,
        "files_scanned": len(files),
        "hits_per_table": tables,
        "hits_per_file": files,
        "total_hits": total,
    }
    if settings.target == "postgres":
        proof["not_scanned"] = (
            "Postgres data files: a client cannot read them. Every table deleted from was vacuumed (FULL) into "
            "new files; the write-ahead log, replicas and backups are outside Tessera's reach."
        )
    return proof


def _published_hits(settings: Settings, terms: list[str], config: PersonSourcesConfig) -> int:
    """Rows of the published warehouse that still hold a term (an SQL scan, as the proof does)."""
    if settings.target == "postgres":
        scans = pg.scan(settings, terms, pg.person_source_table_schemas(config))
    else:
        con = open_read_only(settings.published_db)
        try:
            scans = scan_tables(con, terms)
        finally:
            con.close()
    return sum(s.hits for s in scans)


def _open_erase_request(
    ledger: Ledger, subject_type: str, subject_value: str, request_id: str | None = None
) -> tuple[dict[str, Any], str]:
    """The recorded request `request_id`, a new erase request, or the unfinished erase of the same
    identifier (killed midway or failed), which this run finishes: its steps and what it located are kept,
    and its proof uses its salt. The second value is the status an earlier attempt left ("" if none)."""
    if request_id is not None:
        recorded = ledger.request(request_id)
        if recorded is None or recorded["kind"] != "erase":
            raise PrivacyError(f"{request_id} is not an erase request in the ledger")
        if salted_hash(recorded["salt"], f"{subject_type}:{subject_value}") != recorded["subject_hash"]:
            raise PrivacyError(f"{request_id} was recorded for another identifier")
        if recorded["status"] not in ("received", "in_progress", "failed"):
            raise PrivacyError(f"{request_id} was carried out already ({recorded['status']})")
        return recorded, "" if recorded["status"] == "received" else recorded["status"]
    unfinished = ledger.unfinished_erase(subject_type, subject_value)
    if unfinished is not None:
        return unfinished, unfinished["status"]
    request = ledger.new_request("erase", subject_type, subject_value)
    return ledger.request(request.request_id) or {}, ""


def _step_status(ledger: Ledger, request_id: str, step: str, target: str = "") -> str | None:
    for row in ledger.steps(request_id):
        if row["step"] == step and row["target"] == target:
            return str(row["status"])
    return None


def erase(
    settings: Settings,
    subject: str,
    *,
    syncs: list[SyncConfig] | None = None,
    env: Mapping[str, str] | None = None,
    request_id: str | None = None,
) -> RequestResult:
    """Erase the whole identity cluster of `subject` (`TYPE:VALUE`); see the module docstring.

    `request_id` carries out that recorded request (erase_request). Running it again for the same
    identifier after it was killed or failed finishes that same request."""
    subject_type, subject_value = parse_subject(subject)
    # A wrong person-source declaration, or nothing published yet, stops here, before the ledger records
    # anything.
    config = load_config(settings)
    if settings.target == "postgres":
        with pg.published_session(settings):
            pass  # raises NoWarehouse when nothing is published
    elif not settings.published_db.exists():
        raise NoWarehouse(f"there is no published warehouse at {settings.published_db}: run a build first")
    syncs = project_syncs(settings) if syncs is None else syncs
    with Ledger(ledger_path(settings)) as ledger:
        request, resumed = _open_erase_request(ledger, subject_type, subject_value, request_id)
        rid = request["request_id"]
        if resumed:
            ledger.step(rid, "resume", "done", f"finishing an erase left {resumed}")
        ledger.set_status(rid, "in_progress")
        deleted: dict[str, int] = {}
        try:
            located = locate(settings, subject_type, subject_value)
            saved = ledger.work(rid)
            if saved:
                located.merge(saved)
            ledger.save_work(rid, located.to_json())
            cluster, matches, terms = located.cluster, located.matches, located.terms
            raw_rows = sum(len(m.ids) for m in matches.values())
            ledger.step(
                rid,
                "locate",
                "done",
                f"{len(cluster.customer_ids)} customer(s), {len(cluster.identifiers)} identifiers, "
                f"{raw_rows} raw records in {sum(1 for m in matches.values() if m.ids)} tables, "
                f"{len(located.people.rows)} person-source records",
            )
            hashes = sorted({(t, suppression_hash(t, v)) for t, v in cluster.identifiers})
            ledger.suppress(rid, hashes)
            all_hashes = ledger.suppression_list()
            ledger.step(rid, "suppress", "done", f"{len(hashes)} identifier hashes on the suppression list")
            if _step_status(ledger, rid, "warehouse") == "done" and not _published_hits(
                settings, terms, config
            ):
                # Published without the person before the interruption (and still without them).
                earlier = (ledger.request(rid) or {}).get("result") or {}
                deleted = dict(earlier.get("deleted_rows", {}))
            else:
                if settings.target == "postgres":
                    report = _erase_warehouse_postgres(settings, located, config, all_hashes)
                else:
                    report = _rebuild_and_publish(
                        settings, _erase_in_build(located, config, all_hashes), terms
                    )
                deleted = report["deleted_rows"]
                vacuumed = (
                    f", {len(report['vacuumed'])} tables vacuumed (FULL)" if "vacuumed" in report else ""
                )
                ledger.set_status(rid, "in_progress", result={"deleted_rows": deleted})
                ledger.step(
                    rid,
                    "warehouse",
                    "done",
                    f"{sum(deleted.values())} rows deleted in {len(deleted)} tables, rebuilt, "
                    f"{report['tests_passed']} tests passed{vacuumed}, "
                    + ("published" if settings.target == "postgres" else "rewritten and published"),
                )
                for name, note in report.get("notes", {}).items():
                    ledger.step(rid, "person_source_table", "not_supported", note, target=name)
            masked = masked_file_path(settings)
            if settings.target == "duckdb" and masked.exists():
                ledger.step(rid, "masked_file", "done", f"{masked} rewritten from the published warehouse")
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
            person_files = erase_in_files(config, located.people, terms)
            if person_files:
                ledger.step(
                    rid,
                    "person_source_files",
                    "done",
                    ", ".join(f"{f.source}: {f.removed} rows removed" for f in person_files),
                )
            state = _erase_sync_state(settings, ledger, rid, cluster, terms)
            ledger.step(
                rid, "sync_state", "done", ", ".join(f"{k}: {v}" for k, v in state.items()) or "nothing held"
            )
            held = {p.sync_name for p in ledger.pending() if p.request_id == rid}
            for sync_config in syncs:
                if sync_config.name not in held and not _step_status(
                    ledger, rid, "destination", sync_config.name
                ):
                    ledger.step(
                        rid,
                        "destination",
                        "skipped",
                        "the person was never synced here",
                        target=sync_config.name,
                    )
            erase_pending(ledger, syncs, env=env)
            # Earlier requests' deletes were retried too: those now confirmed are complete.
            for earlier in ledger.open_requests():
                ledger.set_status(earlier, _final_status(ledger, earlier))
            proof = prove(settings, terms, request["salt"], config)
            ledger.set_proof(rid, proof)
            ledger.step(
                rid,
                "proof",
                "done" if proof["total_hits"] == 0 else "failed",
                f"{proof['total_hits']} hits in {proof['tables_scanned']} tables and {proof['files_scanned']} files",
            )
        except Exception as exc:
            ledger.step(rid, "error", "failed", f"{type(exc).__name__}: {exc}")
            ledger.set_status(rid, "failed", result={"error": str(exc), "deleted_rows": deleted})
            raise
        if _step_status(ledger, rid, "error") == "failed":
            ledger.step(
                rid, "error", "skipped", "an earlier attempt failed here; a later run finished the erase"
            )
        status = _final_status(ledger, rid)
        ledger.set_status(
            rid, status, result={"customers": len(cluster.customer_ids), "deleted_rows": deleted}
        )
        if status != "failed":
            ledger.drop_work(rid)
            ledger.drop_subject(rid)
        steps = ledger.steps(rid)
    _finish_ledger(settings)
    return RequestResult(rid, "erase", status, steps, proof, len(cluster.customer_ids))


def recorded_subject(settings: Settings, request_id: str, kind: str) -> str:
    """The identifier of a request recorded with `tessera privacy request` and not carried out yet."""
    path = ledger_path(settings)
    if not path.exists():
        raise PrivacyError(f"no request {request_id}: the privacy ledger is empty")
    with Ledger(path) as ledger:
        request = ledger.request(request_id)
        subject = ledger.subject(request_id)
    if request is None:
        raise PrivacyError(f"no request {request_id} in the privacy ledger")
    if request["kind"] != kind:
        raise PrivacyError(f"{request_id} is an {request['kind']} request, not {kind}")
    if subject is None:
        raise PrivacyError(
            f"{request_id} was carried out already ({request['status']}), or was not recorded for a job"
        )
    return subject


def erase_request(
    settings: Settings,
    request_id: str,
    *,
    syncs: list[SyncConfig] | None = None,
    env: Mapping[str, str] | None = None,
) -> RequestResult:
    """Carry out an erase recorded with `tessera privacy request erase`; only its id is passed around."""
    subject = recorded_subject(settings, request_id, "erase")
    return erase(settings, subject, syncs=syncs, env=env, request_id=request_id)


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
            if suppress:
                try:
                    cluster = locate(settings, subject_type, subject_value).cluster
                except NoWarehouse:
                    # Nothing published yet: the identifier alone, so that the first load quarantines it.
                    cluster = Cluster(
                        subject_type, subject_value, identifiers=[(subject_type, subject_value)]
                    )
                hashes = sorted({(t, suppression_hash(t, v)) for t, v in cluster.identifiers})
                ledger.suppress(rid, hashes)
                detail = f"{len(hashes)} identifier hashes of {len(cluster.customer_ids)} customer(s) added"
            else:
                removed, requests = ledger.unsuppress(suppression_hash(subject_type, subject_value))
                detail = f"{removed} hashes removed (listed by {', '.join(requests) or 'no request'})"
            ledger.step(rid, kind, "done", detail)
            hashes_now = ledger.suppression_list()
            if settings.target == "postgres":
                with writer_lock(settings):
                    write_suppression_table_postgres(settings, hashes_now)
                ledger.step(rid, "warehouse", "done", "list written; it takes effect at the next build")
            else:

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
