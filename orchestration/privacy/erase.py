"""Erasure with proof, suppression and unsuppression, each going through write-audit-publish.

An erase finds the person's whole identity cluster, then:
1. in the warehouse, through its ErasureBackend (privacy/backend.py; DuckDB: backend_duckdb.py, Postgres:
   backend_postgres.py): deletes their rows from every raw table and every carried-forward table, writes
   the suppression list, rebuilds and tests with dbt, leaves no deleted row in the files (DuckDB: rewrites
   the file; Postgres: VACUUM FULL), scans, and publishes only on zero hits;
2. rewrites the raw landing files without their rows;
3. takes them out of sync state (kept in the ledger only until each destination confirmed) and the
   published sync history;
4. calls each destination's deletion API;
5. scans everything again and stores the proof: salted hashes of the terms, hits per table and file.
"""

from __future__ import annotations

import logging
import operator
import shutil
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from orchestration.person_sources.config import PersonSourcesConfig, load_config
from orchestration.privacy import probable
from orchestration.privacy.backend import ErasureBackend, erasure_backend
from orchestration.privacy.cluster import (
    RAW_TABLES,
    Cluster,
    EraseIncomplete,
    NoWarehouse,
    PersonSourceMatch,
    RawMatch,
    SourceBusy,
    find_cluster,
    match_person_source_rows,
    match_raw_rows,
    parse_subject,
)
from orchestration.privacy.destinations import erase_pending
from orchestration.privacy.files import compact_duckdb, rewrite_parquet_without, scan_parquet
from orchestration.privacy.hashing import salted_hash, suppression_hash
from orchestration.privacy.id_columns import raw_id_columns
from orchestration.privacy.ledger import Ledger, ledger_path, publish_ledger, utcnow
from orchestration.privacy.masking import masked_file_path, masked_terms
from orchestration.privacy.person_sources import declared_files, erase_in_files
from orchestration.privacy.places import project_code_files, tool_artefact, written_files
from orchestration.privacy.probable import ProbableHit, Traits, capture_traits
from orchestration.privacy.scan import (
    byte_terms,
    normalise_terms,
    scan_bytes,
    scan_tables,
    tables_of,
)
from orchestration.privacy.unlinked import ProbableRecord, extend_cluster, probable_records
from orchestration.settings import Settings
from orchestration.sync.config import SyncConfig
from orchestration.sync.project import history_path, project_syncs, state_path, sync_location
from orchestration.warehouse.audit import PublishBlocked
from orchestration.warehouse.connection import open_read_only
from orchestration.warehouse.load import present_raw_files, raw_files

log = logging.getLogger(__name__)


# The failed request's result key for the rows its warehouse step deleted outside the build before it failed
# (EraseIncomplete): in a loader's own DuckDB file, in Postgres's tables outside the build schema.
DELETED_IN_PLACE = "deleted_in_place"


class PrivacyError(RuntimeError):
    """A request could not be carried out; the ledger says which step failed and why."""


# The failures a privacy request reports as one line (the CLI) or as one Dagster failure (the jobs), not as a
# traceback: each says what failed and what to do, and names no person (tables, counts, files, request ids).
REQUEST_FAILURES: tuple[type[Exception], ...] = (
    PrivacyError,
    NoWarehouse,
    SourceBusy,
    EraseIncomplete,
    PublishBlocked,
)


@dataclass
class RequestResult:
    request_id: str
    kind: str
    status: str
    steps: list[dict[str, Any]] = field(default_factory=list)
    proof: dict[str, Any] | None = None
    customers: int = 0
    # Records that probably belong to the person without being linked (unlinked.py): shown to the operator,
    # never written to the ledger beyond their count.
    probable: list[dict[str, Any]] = field(default_factory=list)


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
    # The subject's rare names and street lines (probable.py): in memory only, never in to_json().
    traits: Traits = field(default_factory=Traits)
    # Records probably theirs but not linked (unlinked.py), and the customers an extended request added.
    probable: list[ProbableRecord] = field(default_factory=list)
    extended: list[str] = field(default_factory=list)

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


def review_threshold() -> float:
    """The probability from which a scored pair is a probable match (var identity_match_review_threshold)."""
    from orchestration.identity.external import matching_vars

    return matching_vars().review_threshold


def locate(
    settings: Settings,
    subject_type: str,
    subject_value: str,
    backend: ErasureBackend | None = None,
    *,
    include_probable: bool = False,
) -> Located:
    """The cluster of (type, value) in the published warehouse, with its raw and person-source rows, and the
    records probably theirs without being linked; with `include_probable`, those records' customer clusters
    are part of the request."""
    backend = erasure_backend(settings) if backend is None else backend
    with backend.published_session() as session:
        cluster = find_cluster(session, subject_type, subject_value)
        probable_list = probable_records(session, cluster, review_threshold())
        extended = extend_cluster(session, cluster, probable_list) if include_probable else []
        matches = match_raw_rows(session, cluster)
        people = match_person_source_rows(session, cluster)
        traits = capture_traits(session, cluster.customer_ids)
    located = Located(cluster, matches, people, cluster_terms(cluster, matches, people), traits)
    located.probable, located.extended = probable_list, extended
    return located


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
            path,
            terms,
            match.raw.raw_id if match else None,
            [str(i) for i in match.ids] if match else [],
            _landing_id_columns(raw.get(path)),
        )
        if count:
            removed[str(path.relative_to(settings.data_dir))] = count
    return removed


def _landing_id_columns(raw: tuple[str, str] | None) -> frozenset[str] | None:
    """A raw landing file's identifier columns are its raw table's (id_columns.py); other files have none
    declared (every text column)."""
    return raw_id_columns(f"raw_{raw[0]}", raw[1]) if raw is not None else None


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


def _summed(first: Mapping[str, int], second: Mapping[str, int]) -> dict[str, int]:
    """Row counts per place, added; a place counted 0 stays listed. A warehouse's raw_* table is the exception:
    every build reloads it from the landing files until the erase rewrites them, so the run that finishes a
    failed request may delete, and count, the same rows again; the larger count stands there."""
    return {
        place: (max if _reloaded(place) else operator.add)(first.get(place, 0), second.get(place, 0))
        for place in {**first, **second}
    }


def _reloaded(place: str) -> bool:
    """A raw table of the warehouse (`raw_<source>.<table>`), not a loader file's (`<file>:<schema>.<table>`)."""
    return place.startswith("raw_") and ":" not in place


def prove(
    settings: Settings,
    terms: list[str],
    salt: str,
    config: PersonSourcesConfig | None = None,
    backend: ErasureBackend | None = None,
    traits: Traits | None = None,
) -> dict[str, Any]:
    """Scan everything the project keeps for every term: each table of the published warehouse (DuckDB: the
    file; Postgres: every table of every Tessera schema, the sync state's included), the sync state, its
    published history and the masked file (SQL; there also for each term's keyed pseudonym), and every file the project writes (places.py: the data,
    warehouse and build folders, Dagster's storage, dbt's target and log folders; Parquet through SQL,
    other files byte by byte) and every declared person-source file. A term found fails the proof.

    With `traits` (the subject's rare names and street lines, probable.py), the same places are searched
    for them too: those hits are listed apart, as "probably the same person, not linked", by place and
    column only, and do not fail the proof."""
    config = config if config is not None else load_config(settings)
    backend = erasure_backend(settings) if backend is None else backend
    traits = traits if traits is not None else Traits()
    tables, scanned_rows, files, outside = backend.prove_published(terms, config)
    probable_hits: list[ProbableHit] = list(backend.probe_published(traits, config))
    sources: list[tuple[str, Any]] = [
        ("sync_state", state_path(settings)),
        ("sync_history", history_path(settings)),
        ("masked_file", masked_file_path(settings)),
    ]
    # The masked file shows customer ids, emails and phones only keyed (md5 of the masking salt and the value):
    # there the person is found by those pseudonyms, which the published file's salt gives.
    pseudonyms = masked_terms(settings.published_db, terms)
    for label, path in sources:
        if not path.exists():
            continue
        con = open_read_only(path)
        try:
            for scan in scan_tables(con, [*terms, *pseudonyms] if label == "masked_file" else terms):
                tables[f"{label}:{scan.table}"] = scan.hits
                scanned_rows += scan.rows
            probable_hits.extend(probable.scan_tables(con, traits, tables_of(con), label))
        finally:
            con.close()
    scanned_as_tables = {str(path) for _, path in sources if path.exists()} | set(files)
    declared = list(declared_files(config))
    # Terms the project's own dbt code holds are found in dbt's and Dagster's artefacts on every build
    # (places.py): there they are counted apart, with the code files named.
    in_code: dict[str, int] = {}
    code_terms: list[str] = []
    for path in project_code_files(settings):
        found = [t for t in byte_terms(terms) if scan_bytes(path, [t])]
        if found:
            in_code[str(path.relative_to(settings.project_dir))] = len(found)
            code_terms.extend(found)
    code_terms = normalise_terms(code_terms)
    other_terms = [t for t in terms if t not in set(code_terms)]
    from_code: dict[str, int] = {}
    places: dict[str, str] = {}
    landing = {path: (source, table) for source, table, path in present_raw_files(settings.raw_dir)}
    # The files the backend scanned (the published file, the loaders' own files), by their real paths: a
    # data folder reached through a symbolic link shows them under another name, and they count once.
    by_backend = {Path(name).resolve() for name in files}
    for label, path in [*written_files(settings), *(("person_source", p) for p in declared)]:
        name = str(path)
        if name in places or (name not in files and path.resolve() in by_backend):
            continue
        places[name] = label
        if path.suffix == ".parquet":
            files[name], left = scan_parquet(path, terms, _landing_id_columns(landing.get(path)))
            if left:
                outside[name] = left
        elif code_terms and tool_artefact(label, path):
            files[name] = scan_bytes(path, other_terms)
            if count := scan_bytes(path, code_terms):
                from_code[name] = count
        else:
            files[name] = scan_bytes(path, terms)
        if name not in scanned_as_tables:
            probable_hits.extend(probable.scan_file(path, traits))
    total = sum(tables.values()) + sum(files.values())
    proof: dict[str, Any] = {
        "scanned_at": utcnow().isoformat(),
        "salt": salt,
        "term_hashes": sorted(salted_hash(salt, t) for t in terms),
        "terms": len(terms),
        "byte_terms": len(byte_terms(terms)),
        "masked_terms": len(pseudonyms),
        "warehouse": backend.name,
        "tables_scanned": len(tables),
        "rows_scanned": scanned_rows,
        "files_scanned": len(files),
        "files_per_place": {
            label: sum(1 for lab in places.values() if lab == label) for label in sorted(set(places.values()))
        },
        "hits_per_table": tables,
        "hits_per_file": files,
        "total_hits": total,
        # Rows of raw and loader tables (and raw landing files) where a short or all-digit term equals a
        # column that holds no identifier: another person's order id 1234, not shop customer 1234. Left
        # on purpose, counted here, not hits (id_columns.py, docs/privacy.md).
        "outside_identifier_columns": outside,
        "terms_in_project_code": in_code,
        "hits_from_project_code": from_code,
        "probable": {
            **probable.summarise(probable_hits),
            "names_searched": len(traits.names),
            "streets_searched": len(traits.streets),
            "not_searched": traits.skipped,
            "term_hashes": sorted(salted_hash(salt, v) for v in traits.values()),
            **({"note": traits.note} if traits.note else {}),
        },
    }
    proof.update(backend.proof_notes())
    return proof


def _published_hits(backend: ErasureBackend, terms: list[str], config: PersonSourcesConfig) -> int:
    """Rows of the published warehouse that still hold a term (an SQL scan, as the proof does)."""
    return sum(s.hits for s in backend.scan_published(terms, config))


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
    include_probable: bool = False,
) -> RequestResult:
    """Erase the whole identity cluster of `subject` (`TYPE:VALUE`); see the module docstring.

    `request_id` carries out that recorded request (erase_request). Running it again for the same
    identifier after it was killed or failed finishes that same request. The result lists the records
    that probably belong to the person without being linked (unlinked.py); `include_probable` erases
    their customers' clusters too."""
    subject_type, subject_value = parse_subject(subject)
    # A wrong person-source declaration, or nothing published yet, stops here, before the ledger records
    # anything.
    config = load_config(settings)
    backend = erasure_backend(settings)
    backend.check_published()
    syncs = project_syncs(settings) if syncs is None else syncs
    with Ledger(ledger_path(settings)) as ledger:
        request, resumed = _open_erase_request(ledger, subject_type, subject_value, request_id)
        rid = request["request_id"]
        if resumed:
            ledger.step(rid, "resume", "done", f"finishing an erase left {resumed}")
        # Rows an earlier attempt deleted in place, outside the build (EraseIncomplete), before it failed:
        # kept apart from the other counts, which a new warehouse step replaces.
        carried = dict(((ledger.request(rid) or {}).get("result") or {}).get(DELETED_IN_PLACE) or {})
        ledger.set_status(rid, "in_progress")
        deleted: dict[str, int] = dict(carried)
        try:
            located = locate(
                settings, subject_type, subject_value, backend, include_probable=include_probable
            )
            saved = ledger.work(rid)
            if saved:
                if saved.get("customer_ids") and not located.cluster.customer_ids:
                    located.traits.note = (
                        "names and streets were not searched: this run resumed an erase that had published "
                        "already, and they are kept in memory only"
                    )
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
            if located.probable or located.extended:
                # Counts and sources only: the records themselves are shown to the operator, not kept.
                sources = sorted({f"{r.source_name}.{r.table_name}" for r in located.probable})
                ledger.step(
                    rid,
                    "probable_records",
                    "done",
                    f"{len(located.probable)} records probably theirs but not linked ({', '.join(sources)}); "
                    + (
                        f"{len(located.extended)} customer(s) added to the request (--include-probable)"
                        if located.extended
                        else "not included"
                    ),
                )
            hashes = sorted({(t, suppression_hash(t, v)) for t, v in cluster.identifiers})
            ledger.suppress(rid, hashes)
            all_hashes = ledger.suppression_list()
            ledger.step(rid, "suppress", "done", f"{len(hashes)} identifier hashes on the suppression list")
            if _step_status(ledger, rid, "warehouse") == "done" and not _published_hits(
                backend, terms, config
            ):
                # Published without the person before the interruption (and still without them).
                earlier = (ledger.request(rid) or {}).get("result") or {}
                deleted = dict(earlier.get("deleted_rows", {}))
            else:
                report = backend.erase(located.matches, located.people, terms, config, all_hashes)
                deleted = _summed(carried, report["deleted_rows"])
                vacuumed = (
                    f", {len(report['vacuumed'])} tables vacuumed (FULL)" if "vacuumed" in report else ""
                )
                ledger.set_status(rid, "in_progress", result={"deleted_rows": deleted})
                ledger.step(
                    rid,
                    "warehouse",
                    "done",
                    f"{sum(deleted.values())} rows deleted in {len(deleted)} tables, rebuilt, "
                    f"{report['tests_passed']} tests passed{vacuumed}, " + backend.publish_detail,
                )
                for name, note in report.get("notes", {}).items():
                    ledger.step(rid, "person_source_table", "not_supported", note, target=name)
                for name, note in report.get("loader_notes", {}).items():
                    ledger.step(rid, "loader_table", "not_supported", note, target=name)
            masked = masked_file_path(settings)
            if backend.publish_refreshes_masked_file and masked.exists():
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
            proof = prove(settings, terms, request["salt"], config, backend, located.traits)
            ledger.set_proof(rid, proof)
            ledger.step(
                rid,
                "proof",
                "done" if proof["total_hits"] == 0 else "failed",
                f"{proof['total_hits']} hits in {proof['tables_scanned']} tables and {proof['files_scanned']} files; "
                f"{proof['probable']['total']} probable name or street hits (not linked)"
                + (
                    f"; {sum(proof['hits_from_project_code'].values())} hits in dbt/Dagster artefacts of "
                    f"terms the project's dbt code holds ({', '.join(sorted(proof['terms_in_project_code']))})"
                    if proof["hits_from_project_code"]
                    else ""
                ),
            )
        except Exception as exc:
            if isinstance(exc, EraseIncomplete):
                carried = _summed(carried, exc.deleted_rows)
                deleted = _summed(deleted, exc.deleted_rows)
                ledger.step(
                    rid,
                    DELETED_IN_PLACE,
                    "done",
                    f"{sum(exc.deleted_rows.values())} rows deleted in place in {len(exc.deleted_rows)} tables "
                    "outside the build, before the warehouse step failed",
                )
            ledger.step(rid, "error", "failed", f"{type(exc).__name__}: {exc}")
            ledger.set_status(
                rid,
                "failed",
                result={"error": str(exc), "deleted_rows": deleted, DELETED_IN_PLACE: carried},
            )
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
    return RequestResult(
        rid,
        "erase",
        status,
        steps,
        proof,
        len(cluster.customer_ids),
        [r.to_json() | {"included": r.customer_id in cluster.customer_ids} for r in located.probable],
    )


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
            detail = erasure_backend(settings).write_suppression_list(hashes_now)
            ledger.step(rid, "warehouse", "done", detail)
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
