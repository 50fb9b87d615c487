"""The privacy request ledger: its own DuckDB file beside the sync state, so erasures and rebuilds never touch it.

It keeps no identifier in clear. A request's subject is kept as a salted hash (salt per request); the
suppression list keeps unsalted sha256('<type>:<value>') hashes, which staging must be able to recompute.
Three exceptions, each kept only as long as it is needed: `privacy_request_subjects`, the identifier of a
request recorded for a Dagster job (which is given only the request id), until the request was carried out;
`privacy_pending_deletes`, what a destination needs to delete a person (the last payload the sync sent),
until that destination confirmed the deletion; and `privacy_erase_work`, what an erase located (terms,
record ids), until the erase finished, so that an erase killed midway (after publishing the warehouse
without the person, say) is finished by running it again."""

from __future__ import annotations

import json
import logging
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import duckdb

from orchestration.privacy.hashing import new_salt, salted_hash
from orchestration.settings import Settings
from orchestration.warehouse.files import written_aside

log = logging.getLogger(__name__)

KINDS = ("access", "erase", "suppress", "unsuppress")
# A step's outcome. `failed` steps are retried by the next erase or sync run; `not_supported` is final.
STEP_STATUSES = ("done", "failed", "not_supported", "skipped")

SCHEMA = [
    """
    create table if not exists privacy_requests (
        request_id varchar primary key,
        kind varchar not null,
        subject_type varchar not null,
        subject_hash varchar not null,
        salt varchar not null,
        received_at timestamp not null,
        status varchar not null,
        completed_at timestamp,
        result varchar,
        proof varchar
    )
    """,
    """
    create table if not exists privacy_request_steps (
        request_id varchar not null,
        step varchar not null,
        target varchar not null,
        status varchar not null,
        detail varchar,
        attempts integer not null,
        updated_at timestamp not null,
        primary key (request_id, step, target)
    )
    """,
    """
    create table if not exists privacy_suppression_list (
        identifier_hash varchar not null,
        identifier_type varchar not null,
        request_id varchar not null,
        suppressed_at timestamp not null,
        primary key (identifier_hash, request_id)
    )
    """,
    """
    create table if not exists privacy_pending_deletes (
        request_id varchar not null,
        sync_name varchar not null,
        key varchar not null,
        destination_id varchar,
        payload varchar,
        attempts integer not null,
        last_error varchar,
        created_at timestamp not null,
        primary key (request_id, sync_name, key)
    )
    """,
    """
    create table if not exists privacy_request_subjects (
        request_id varchar primary key,
        subject varchar not null,
        saved_at timestamp not null
    )
    """,
    """
    create table if not exists privacy_erase_work (
        request_id varchar primary key,
        work varchar not null,
        saved_at timestamp not null
    )
    """,
]
# What analysts get in the published copy: everything but the pending deletes' payloads.
PUBLISHED_TABLES = ("privacy_requests", "privacy_request_steps", "privacy_suppression_list")


def utcnow() -> datetime:
    return datetime.now(UTC).replace(tzinfo=None)


def ledger_path(settings: Settings) -> Path:
    return settings.published_db.parent / "privacy_ledger.duckdb"


def published_ledger_path(settings: Settings) -> Path:
    """A read-only copy for analysts (like sync_history.duckdb): requests, steps, suppression hashes."""
    return settings.published_db.parent / "privacy_history.duckdb"


@dataclass
class Request:
    request_id: str
    kind: str
    subject_type: str
    subject_hash: str
    salt: str
    received_at: datetime


@dataclass
class PendingDelete:
    request_id: str
    sync_name: str
    key: str
    destination_id: str | None
    payload: dict[str, Any]
    attempts: int


class Ledger:
    """Read-write access to the ledger file; use as a context manager. One writer at a time (DuckDB's lock)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        path.parent.mkdir(parents=True, exist_ok=True)
        try:
            self.conn = duckdb.connect(str(path))
        except duckdb.IOException as exc:
            raise RuntimeError(f"the privacy ledger {path} is in use by another process: {exc}") from None
        for statement in SCHEMA:
            self.conn.execute(statement)

    def __enter__(self) -> Ledger:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self.conn.execute("checkpoint")
        self.conn.close()

    # requests

    def new_request(self, kind: str, subject_type: str, subject_value: str) -> Request:
        if kind not in KINDS:
            raise ValueError(f"kind must be one of {', '.join(KINDS)}")
        salt = new_salt()
        request = Request(
            request_id=f"pr_{utcnow():%Y%m%dT%H%M%S}_{uuid.uuid4().hex[:8]}",
            kind=kind,
            subject_type=subject_type,
            subject_hash=salted_hash(salt, f"{subject_type}:{subject_value}"),
            salt=salt,
            received_at=utcnow(),
        )
        self.conn.execute(
            "insert into privacy_requests (request_id, kind, subject_type, subject_hash, salt, received_at, status) "
            "values (?, ?, ?, ?, ?, ?, 'received')",
            [
                request.request_id,
                kind,
                subject_type,
                request.subject_hash,
                salt,
                request.received_at,
            ],
        )
        return request

    def record_request(self, kind: str, subject_type: str, subject_value: str) -> Request:
        """A request to be carried out later by its id (the Dagster jobs): the identifier is kept, in
        `privacy_request_subjects`, only until the request was carried out (see drop_subject)."""
        if kind not in ("access", "erase"):
            raise ValueError("only access and erase requests are recorded for later")
        request = self.new_request(kind, subject_type, subject_value)
        self.conn.execute(
            "insert into privacy_request_subjects values (?, ?, ?)",
            [request.request_id, f"{subject_type}:{subject_value}", utcnow()],
        )
        return request

    def subject(self, request_id: str) -> str | None:
        """The `TYPE:VALUE` of a recorded request not carried out yet; None once it was (or was never kept)."""
        row = self.conn.execute(
            "select subject from privacy_request_subjects where request_id = ?", [request_id]
        ).fetchone()
        return str(row[0]) if row else None

    def drop_subject(self, request_id: str) -> None:
        self.conn.execute("delete from privacy_request_subjects where request_id = ?", [request_id])

    def set_status(self, request_id: str, status: str, *, result: dict[str, Any] | None = None) -> None:
        completed = utcnow() if status in ("completed", "failed") else None
        self.conn.execute(
            "update privacy_requests set status = ?, completed_at = ?, result = coalesce(?, result) "
            "where request_id = ?",
            [status, completed, json.dumps(result, default=str) if result is not None else None, request_id],
        )

    def set_proof(self, request_id: str, proof: dict[str, Any]) -> None:
        self.conn.execute(
            "update privacy_requests set proof = ? where request_id = ?",
            [json.dumps(proof, default=str), request_id],
        )

    def step(self, request_id: str, step: str, status: str, detail: str = "", target: str = "") -> None:
        if status not in STEP_STATUSES:
            raise ValueError(f"step status must be one of {', '.join(STEP_STATUSES)}")
        self.conn.execute(
            """
            insert into privacy_request_steps as s
                (request_id, step, target, status, detail, attempts, updated_at)
            values (?, ?, ?, ?, ?, 1, ?)
            on conflict (request_id, step, target) do update set
                status = excluded.status, detail = excluded.detail,
                attempts = s.attempts + 1, updated_at = excluded.updated_at
            """,
            [request_id, step, target, status, detail[:2000], utcnow()],
        )
        log.info("privacy %s: %s %s -> %s %s", request_id, step, target, status, detail)

    def steps(self, request_id: str) -> list[dict[str, Any]]:
        rows = self.conn.execute(
            "select step, target, status, detail, attempts, updated_at from privacy_request_steps "
            "where request_id = ? order by updated_at, step, target",
            [request_id],
        ).fetchall()
        names = ("step", "target", "status", "detail", "attempts", "updated_at")
        return [dict(zip(names, row, strict=True)) for row in rows]

    def request(self, request_id: str) -> dict[str, Any] | None:
        cursor = self.conn.execute("select * from privacy_requests where request_id = ?", [request_id])
        row = cursor.fetchone()
        if row is None:
            return None
        names = [d[0] for d in cursor.description]
        data = dict(zip(names, row, strict=True))
        for name in ("result", "proof"):
            if data.get(name):
                data[name] = json.loads(data[name])
        return data

    def requests(self, limit: int = 50) -> list[dict[str, Any]]:
        cursor = self.conn.execute(
            "select request_id, kind, subject_type, received_at, status, completed_at from privacy_requests "
            "order by received_at desc limit ?",
            [limit],
        )
        names = [d[0] for d in cursor.description]
        return [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]

    def find_requests(self, subject_type: str, subject_value: str) -> list[str]:
        """Earlier requests about this identifier: each is checked against its own salt."""
        rows = self.conn.execute(
            "select request_id, salt, subject_hash from privacy_requests where subject_type = ? "
            "order by received_at, request_id",
            [subject_type],
        ).fetchall()
        term = f"{subject_type}:{subject_value}"
        return [rid for rid, salt, digest in rows if salted_hash(salt, term) == digest]

    # suppression

    def suppress(self, request_id: str, hashes: list[tuple[str, str]]) -> int:
        """Add (identifier_type, identifier_hash) pairs to the suppression list under this request."""
        now = utcnow()
        for identifier_type, digest in hashes:
            self.conn.execute(
                "insert into privacy_suppression_list values (?, ?, ?, ?) on conflict do nothing",
                [digest, identifier_type, request_id, now],
            )
        return len(hashes)

    def unsuppress(self, identifier_hash: str) -> tuple[int, list[str]]:
        """Lift the suppression of every request that listed this hash (a person's identifiers go together)."""
        requests = [
            rid
            for (rid,) in self.conn.execute(
                "select distinct request_id from privacy_suppression_list where identifier_hash = ?",
                [identifier_hash],
            ).fetchall()
        ]
        if not requests:
            return 0, []
        removed = self.conn.execute(
            "delete from privacy_suppression_list where request_id in (select unnest(?)) returning 1",
            [requests],
        ).fetchall()
        return len(removed), requests

    def suppression_list(self) -> list[tuple[str, str]]:
        return [
            (t, h)
            for h, t in self.conn.execute(
                "select distinct identifier_hash, identifier_type from privacy_suppression_list order by 1"
            ).fetchall()
        ]

    # deletes a destination has not confirmed yet

    def add_pending(
        self, request_id: str, sync_name: str, rows: list[tuple[str, str | None, str | None]]
    ) -> None:
        now = utcnow()
        for key, destination_id, payload in rows:
            self.conn.execute(
                "insert into privacy_pending_deletes values (?, ?, ?, ?, ?, 0, null, ?) on conflict do nothing",
                [request_id, sync_name, key, destination_id, payload, now],
            )

    def pending(self, sync_name: str | None = None) -> list[PendingDelete]:
        rows = self.conn.execute(
            "select request_id, sync_name, key, destination_id, payload, attempts from privacy_pending_deletes "
            "where ? is null or sync_name = ? order by created_at, request_id, sync_name, key",
            [sync_name, sync_name],
        ).fetchall()
        return [
            PendingDelete(rid, sync, key, did, json.loads(payload) if payload else {}, attempts)
            for rid, sync, key, did, payload, attempts in rows
        ]

    def resolve_pending(self, request_id: str, sync_name: str, keys: list[str]) -> None:
        self.conn.execute(
            "delete from privacy_pending_deletes where request_id = ? and sync_name = ? and key in (select unnest(?))",
            [request_id, sync_name, keys],
        )

    def bump_pending(self, request_id: str, sync_name: str, keys: list[str], error: str) -> None:
        self.conn.execute(
            "update privacy_pending_deletes set attempts = attempts + 1, last_error = ? "
            "where request_id = ? and sync_name = ? and key in (select unnest(?))",
            [error[:1000], request_id, sync_name, keys],
        )

    # what an unfinished erase located

    def save_work(self, request_id: str, work: dict[str, Any]) -> None:
        self.conn.execute(
            "insert or replace into privacy_erase_work values (?, ?, ?)",
            [request_id, json.dumps(work, default=str), utcnow()],
        )

    def work(self, request_id: str) -> dict[str, Any] | None:
        row = self.conn.execute(
            "select work from privacy_erase_work where request_id = ?", [request_id]
        ).fetchone()
        return json.loads(row[0]) if row else None

    def drop_work(self, request_id: str) -> None:
        self.conn.execute("delete from privacy_erase_work where request_id = ?", [request_id])

    def unfinished_erase(self, subject_type: str, subject_value: str) -> dict[str, Any] | None:
        """The latest erase of this identifier that never finished (killed midway, or failed), if any."""
        for request_id in reversed(self.find_requests(subject_type, subject_value)):
            request = self.request(request_id)
            if (
                request
                and request["kind"] == "erase"
                and request["status"] in ("received", "in_progress", "failed")
            ):
                return request
        return None

    def open_requests(self) -> list[str]:
        return [
            rid
            for (rid,) in self.conn.execute(
                "select request_id from privacy_requests where status in ('received', 'pending') "
                "order by received_at"
            ).fetchall()
        ]


def publish_ledger(settings: Settings) -> Path:
    """Copy the ledger's public tables into a fresh file and rename it over the analysts' copy."""
    source = ledger_path(settings)
    target = published_ledger_path(settings)
    with written_aside(target) as tmp:
        con = duckdb.connect()
        try:
            con.execute(f"attach '{source}' as ledger (read_only)")
            con.execute(f"attach '{tmp}' as copy")
            for table in PUBLISHED_TABLES:
                con.execute(f"create table copy.{table} as select * from ledger.{table}")
            con.execute("detach copy")
        finally:
            con.close()
    return target
