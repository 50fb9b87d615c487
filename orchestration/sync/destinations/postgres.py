"""A Postgres table: upsert with ON CONFLICT, update, insert and delete, each batch applied exactly once."""

from __future__ import annotations

import hashlib
import json
import logging
from typing import Any, ClassVar, Literal

import psycopg2
import psycopg2.errors
import psycopg2.extras
from psycopg2 import sql
from pydantic import Field, PositiveInt

from orchestration.sync.destinations.base import (
    Batch,
    Destination,
    DestinationContext,
    DestinationSettings,
    EnvVar,
    Item,
    Limits,
    Record,
    RecordResult,
)
from orchestration.sync.errors import BatchRejected, DestinationFatalError, RetryableError

log = logging.getLogger(__name__)

IDENTIFIER = r"^[A-Za-z_][A-Za-z0-9_]*$"
QUALIFIED = r"^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)?$"


class PostgresSettings(DestinationSettings):
    """Writes mapped fields to columns of the same name; the sync key goes to `key_column`, which needs a
    unique index. Each batch is recorded in a ledger table in the same transaction, so a batch repeated
    after a crash is recognised and not applied twice."""

    type: Literal["postgres"]
    dsn_env: EnvVar  # a libpq connection string, e.g. "host=… dbname=… user=… password=…"
    table: str = Field(pattern=QUALIFIED)
    key_column: str = Field(default="id", pattern=IDENTIFIER)
    create_table: bool = False
    ledger_table: str = Field(default="tessera_sync_batches", pattern=IDENTIFIER)
    connect_timeout_seconds: PositiveInt = 10

    supported_modes: ClassVar[frozenset[str]] = frozenset({"upsert", "update", "insert", "mirror"})
    api_limits: ClassVar[Limits] = Limits(max_batch_size=5000, requests=None)

    def validate_mapping(self, mapping: dict[str, str], mode: str) -> None:
        import re

        bad = [name for name in mapping if not re.match(IDENTIFIER, name)]
        if bad:
            raise ValueError(f"column name(s) {', '.join(bad)} are not plain identifiers")
        if self.key_column in mapping:
            raise ValueError(f"{self.key_column} is the key column and gets the sync key; do not map it")

    def uses_http(self) -> bool:
        return False

    def build(self, ctx: DestinationContext) -> Destination:
        return PostgresTable(self, ctx.secret(self.dsn_env), ctx.sync_name, list(ctx.mapping), self.limits())


def _adapt(value: Any) -> Any:
    return psycopg2.extras.Json(value) if isinstance(value, dict | list) else value


class PostgresTable(Destination):
    supports_idempotency_key = True

    def __init__(
        self, settings: PostgresSettings, dsn: str, sync_name: str, columns: list[str], limits: Limits
    ) -> None:
        super().__init__()
        self.settings = settings
        self.limits = limits
        self.sync_name = sync_name
        self.columns = columns
        self._dsn = dsn
        self._conn: Any = None
        schema, _, name = settings.table.rpartition(".")
        self._schema = schema or None
        self._table = sql.Identifier(*(part for part in (schema, name) if part))
        self._ledger = sql.Identifier(*(part for part in (schema, settings.ledger_table) if part))
        self._key = sql.Identifier(settings.key_column)

    def _connection(self) -> Any:
        if self._conn is None or self._conn.closed:
            try:
                self._conn = psycopg2.connect(
                    self._dsn, connect_timeout=self.settings.connect_timeout_seconds
                )
            except psycopg2.OperationalError as exc:
                raise RetryableError(f"cannot connect to Postgres: {str(exc).strip()[:200]}") from None
            self._prepare_tables()
        return self._conn

    def _prepare_tables(self) -> None:
        with self._conn.cursor() as cur:
            if self.settings.create_table:
                columns = [sql.SQL("{} text primary key").format(self._key)] + [
                    sql.SQL("{} text").format(sql.Identifier(column)) for column in self.columns
                ]
                cur.execute(
                    sql.SQL("create table if not exists {} ({})").format(
                        self._table, sql.SQL(", ").join(columns)
                    )
                )
            cur.execute(
                sql.SQL(
                    "create table if not exists {} (idempotency_key text primary key, "
                    "sync_name text not null, operation text not null, records integer not null, failed jsonb not null, "
                    "applied_at timestamptz not null default now())"
                ).format(self._ledger)
            )
        self._conn.commit()

    def prepare(self, record: Record) -> Item:
        return Item(
            record.key, {"key": record.key, "fields": {c: record.fields.get(c) for c in self.columns}}
        )

    def send_batch(self, batch: Batch) -> list[RecordResult]:
        return self._apply(batch)

    def delete(self, batch: Batch) -> list[RecordResult]:
        return self._apply(batch)

    supports_erase = True
    erase_batch_size = 5000

    def erase(self, records: list[Record], request_id: str) -> list[RecordResult]:
        """`DELETE … WHERE key_column = any(keys)`, applied once per request (the ledger table's key)."""
        items = [self.prepare(Record(record.key, "delete", {})) for record in records]
        digest = hashlib.sha256("|".join(sorted(r.key for r in records)).encode()).hexdigest()[:16]
        return self._apply(Batch("delete", f"erase-{request_id}-{digest}", items))

    def _apply(self, batch: Batch) -> list[RecordResult]:
        conn = self._connection()
        self.requests += 1
        try:
            with conn.cursor() as cur:
                cur.execute(
                    sql.SQL(
                        "insert into {} (idempotency_key, sync_name, operation, records, failed) "
                        "values (%s, %s, %s, %s, '{{}}'::jsonb) on conflict (idempotency_key) do nothing"
                    ).format(self._ledger),
                    (batch.idempotency_key, self.sync_name, batch.operation, len(batch.items)),
                )
                if cur.rowcount == 0:
                    # Applied before a crash: answer as the first application did.
                    cur.execute(
                        sql.SQL("select failed from {} where idempotency_key = %s").format(self._ledger),
                        (batch.idempotency_key,),
                    )
                    failed = cur.fetchone()[0]
                    conn.rollback()
                    log.info("batch %s was already applied; not applying it again", batch.idempotency_key)
                else:
                    failed = self._write(cur, batch)
                    if failed:
                        cur.execute(
                            sql.SQL("update {} set failed = %s where idempotency_key = %s").format(
                                self._ledger
                            ),
                            (json.dumps(failed), batch.idempotency_key),
                        )
                    conn.commit()
        except (psycopg2.OperationalError, psycopg2.InterfaceError) as exc:
            self._discard()
            raise RetryableError(f"Postgres connection failed: {str(exc).strip()[:200]}") from None
        except (psycopg2.errors.SerializationFailure, psycopg2.errors.DeadlockDetected) as exc:
            conn.rollback()
            raise RetryableError(f"Postgres: {str(exc).strip()[:200]}") from None
        except (psycopg2.DataError, psycopg2.IntegrityError) as exc:
            conn.rollback()
            raise BatchRejected(f"Postgres refused the batch: {str(exc).strip()[:300]}") from None
        except psycopg2.Error as exc:
            conn.rollback()
            raise DestinationFatalError(f"Postgres: {str(exc).strip()[:300]}") from None
        return [
            RecordResult(item.key, False, failed[item.key])
            if item.key in failed
            else RecordResult(item.key, True)
            for item in batch.items
        ]

    def _write(self, cur: Any, batch: Batch) -> dict[str, str]:
        """Apply the batch; return key → error for records that could not be applied."""
        keys = [item.body["key"] for item in batch.items]
        if batch.operation == "delete":
            cur.execute(sql.SQL("delete from {} where {} = any(%s)").format(self._table, self._key), (keys,))
            return {}
        columns = [sql.Identifier(column) for column in self.columns]
        rows = [
            (item.body["key"], *(_adapt(item.body["fields"][column]) for column in self.columns))
            for item in batch.items
        ]
        if batch.operation == "update":
            failed = {}
            statement = sql.SQL("update {} set {} where {} = %s").format(
                self._table,
                sql.SQL(", ").join(sql.SQL("{} = %s").format(column) for column in columns),
                self._key,
            )
            for row in rows:
                cur.execute(statement, (*row[1:], row[0]))
                if cur.rowcount == 0:
                    failed[row[0]] = "no row with this key to update"
            return failed
        if batch.operation == "upsert" and columns:
            conflict = sql.SQL("do update set {}").format(
                sql.SQL(", ").join(sql.SQL("{0} = excluded.{0}").format(column) for column in columns)
            )
        else:
            conflict = sql.SQL("do nothing")
        statement = sql.SQL("insert into {} ({}) values %s on conflict ({}) {}").format(
            self._table, sql.SQL(", ").join([self._key, *columns]), self._key, conflict
        )
        psycopg2.extras.execute_values(cur, statement.as_string(cur), rows, page_size=len(rows))
        return {}

    def _discard(self) -> None:
        try:
            if self._conn is not None:
                self._conn.close()
        except psycopg2.Error:
            pass
        self._conn = None

    def close(self) -> None:
        self._discard()
