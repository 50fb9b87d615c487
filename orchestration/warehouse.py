"""Write-audit-publish for both warehouses, and loading the raw source files into them.

DuckDB allows one writer, and an idle read-only connection blocks a writer. So dbt never builds
into the file analysts and syncs read: the build starts from a copy of the published file, is
tested there, and replaces the published file (an atomic rename) only when every gating test
passed. On Postgres the build happens in its own schema, swapped in by renames inside one
transaction.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import logging
import os
import shutil
import tempfile
import time
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Protocol

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq

from orchestration.person_sources.load import load_duckdb as load_person_sources_duckdb
from orchestration.person_sources.load import load_postgres as load_person_sources_postgres
from orchestration.settings import Settings

log = logging.getLogger(__name__)


def open_file(path: Path, *, read_only: bool = False) -> duckdb.DuckDBPyConnection:
    """A connection to the DuckDB file at `path` as it is now.

    duckdb.connect(path) shares one database instance per path within a process, and an instance
    kept alive by any lingering reference still points at the file a publish has since renamed:
    writes meant for a new build would land in the published file. Attaching the file into a fresh
    in-memory database always opens the file that is at `path` now."""
    con = duckdb.connect()
    con.execute(f"attach '{path}' as warehouse{' (read_only)' if read_only else ''}")
    con.execute("use warehouse")
    return con


def open_read_only(path: Path) -> duckdb.DuckDBPyConnection:
    return open_file(path, read_only=True)


class PublishBlocked(RuntimeError):
    """The build's audit did not pass, so the published data was left as it was."""


@dataclass
class TableLoad:
    """What one raw file did to its warehouse table, schema drift included."""

    source: str
    table: str
    rows: int
    columns_added: list[str] = field(default_factory=list)
    columns_missing: list[str] = field(default_factory=list)


@dataclass
class Audit:
    """The verdict on one build: publishable only when no gating node failed."""

    passed: bool
    failures: list[dict[str, str]]
    tests_passed: int
    tests_warned: int
    models_built: int
    finished_at: float

    def write(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(asdict(self), indent=2))

    @classmethod
    def read(cls, path: Path) -> Audit | None:
        if not path.exists():
            return None
        return cls(**json.loads(path.read_text()))

    @classmethod
    def from_run_results(cls, run_results: dict) -> Audit:
        """Judge dbt's run_results.json: a test or model with error/fail status gates publishing;
        tests with severity warn do not."""
        failures: list[dict[str, str]] = []
        tests_passed = tests_warned = models_built = 0
        for result in run_results.get("results", []):
            unique_id = result.get("unique_id", "")
            status = result.get("status")
            kind = unique_id.split(".", 1)[0]
            if status in ("error", "fail", "runtime error"):
                failures.append(
                    {"node": unique_id, "status": str(status), "message": str(result.get("message") or "")}
                )
            elif status == "skipped" and kind in ("model", "seed"):
                failures.append({"node": unique_id, "status": "skipped", "message": "upstream failed"})
            elif kind in ("test", "unit_test"):
                if status == "pass":
                    tests_passed += 1
                elif status == "warn":
                    tests_warned += 1
            elif kind in ("model", "seed") and status == "success":
                models_built += 1
        return cls(
            passed=not failures,
            failures=failures,
            tests_passed=tests_passed,
            tests_warned=tests_warned,
            models_built=models_built,
            finished_at=time.time(),
        )


def raw_files(raw_dir: Path) -> list[tuple[str, str, Path]]:
    """(source, table, path) for every raw Parquet file, in a stable order."""
    found = []
    for path in sorted(raw_dir.glob("*/*.parquet")):
        found.append((path.parent.name, path.stem, path))
    return found


@contextlib.contextmanager
def writer_lock(settings: Settings) -> Iterator[None]:
    """One writer at a time per warehouse: a second build waits here instead of corrupting the first."""
    settings.lock_path.parent.mkdir(parents=True, exist_ok=True)
    with open(settings.lock_path, "w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


class Warehouse(Protocol):
    def prepare_build(self) -> None: ...
    def load_raw(self, raw_dir: Path) -> list[TableLoad]: ...
    def publish(self) -> None: ...
    def query_published(self, sql: str) -> list[tuple]: ...
    def describe_published(self) -> str: ...


def get_warehouse(settings: Settings) -> Warehouse:
    if settings.target == "postgres":
        return PostgresWarehouse(settings)
    return DuckDBWarehouse(settings)


def record_schema_changes(con: duckdb.DuckDBPyConnection, loads: list[TableLoad]) -> None:
    """Keep the drift of this load in the warehouse (published with the build), so that syncs can hold
    removals that follow it (orchestration/sync/holds.py). Nothing is written for a load without drift."""
    # `_loaded_at` is stamped by the load itself, so it is never in the file: not drift.
    changed = [
        (
            load,
            [c for c in load.columns_added if c != "_loaded_at"],
            [c for c in load.columns_missing if c != "_loaded_at"],
        )
        for load in loads
    ]
    changed = [(load, added, missing) for load, added, missing in changed if added or missing]
    if not changed:
        return
    con.execute("create schema if not exists tessera_audit")
    con.execute(
        "create table if not exists tessera_audit.raw_schema_changes (source_name varchar, "
        "table_name varchar, columns_added varchar, columns_missing varchar, loaded_at timestamp)"
    )
    con.executemany(
        "insert into tessera_audit.raw_schema_changes "
        "values (?, ?, ?, ?, cast(timezone('UTC', current_timestamp) as timestamp))",
        [[load.source, load.table, ", ".join(added), ", ".join(missing)] for load, added, missing in changed],
    )


def _drift(previous: dict[str, str], incoming: list[str]) -> tuple[list[str], list[str]]:
    added = [c for c in incoming if c not in previous]
    missing = [c for c in previous if c not in incoming]
    return added, missing


class DuckDBWarehouse:
    """The embedded default: a build file, promoted to the published file by a rename."""

    def __init__(self, settings: Settings):
        self.settings = settings

    @property
    def build_db(self) -> Path:
        return self.settings.build_db

    @property
    def published_db(self) -> Path:
        return self.settings.published_db

    def prepare_build(self) -> None:
        """Start the build database from the last published state, so carried-forward state
        (stable ids, sync history) continues. A left-over build from a failed run is discarded."""
        self.build_db.parent.mkdir(parents=True, exist_ok=True)
        for stale in (
            self.build_db,
            self.build_db.with_name(self.build_db.name + ".wal"),
            self.settings.audit_path,
        ):
            stale.unlink(missing_ok=True)
        if self.published_db.exists():
            shutil.copyfile(self.published_db, self.build_db)
            log.info("build database starts from the published copy %s", self.published_db)

    def ensure_build(self) -> None:
        if not self.build_db.exists():
            self.prepare_build()

    def _columns(self, con: duckdb.DuckDBPyConnection, schema: str, table: str) -> dict[str, str]:
        rows = con.execute(
            "select column_name, data_type from information_schema.columns "
            "where table_schema = ? and table_name = ? order by ordinal_position",
            [schema, table],
        ).fetchall()
        return {name: dtype for name, dtype in rows}

    def load_raw(self, raw_dir: Path) -> list[TableLoad]:
        """Replace each raw_<source>.<table> with its file. A column the table had but the file lacks
        is kept as null (and reported), so that a dropped column never breaks staging silently."""
        self.ensure_build()
        loads = []
        con = open_file(self.build_db)
        try:
            # Declared person sources are checked (and loaded) first: a wrong declaration stops
            # the load before any table changes.
            counts = load_person_sources_duckdb(con, self.settings)
            external = con.execute("select count(*) from raw_person_sources.external_ids").fetchone()[0]  # type: ignore[index]
            loads += _person_source_loads(counts, external)
            for source, table, path in raw_files(raw_dir):
                schema = f"raw_{source}"
                con.execute(f'create schema if not exists "{schema}"')
                previous = self._columns(con, schema, table)
                incoming = pq.read_schema(path).names
                added, missing = _drift(previous, incoming) if previous else ([], [])
                # The load time is stamped here; a file that carries its own _loaded_at is overridden.
                exclude = " exclude (_loaded_at)" if "_loaded_at" in incoming else ""
                fill = "".join(f', cast(null as {previous[c]}) as "{c}"' for c in missing)
                con.execute(
                    f'create or replace table "{schema}"."{table}" as '
                    f"select *{exclude}{fill}, cast(current_timestamp as timestamp) as _loaded_at "
                    f"from read_parquet(?)",
                    [str(path)],
                )
                rows = con.execute(f'select count(*) from "{schema}"."{table}"').fetchone()[0]  # type: ignore[index]
                loads.append(TableLoad(source, table, rows, added, missing))
                if added or missing:
                    log.warning("schema drift in %s.%s: new %s, missing %s", source, table, added, missing)
            record_schema_changes(con, loads)
            # Retention: rows past the last enforced cut-off do not come back with the reload.
            from orchestration.retention.engine import DuckDBRunner, retain_after_load

            retain_after_load(DuckDBRunner(con))
            con.execute("checkpoint warehouse")
        finally:
            con.close()
        return loads

    def publish(self) -> None:
        audit = Audit.read(self.settings.audit_path)
        if audit is None:
            raise PublishBlocked("Not publishing: the build has not been audited (run dbt build first).")
        if not audit.passed:
            raise PublishBlocked(
                f"Not publishing: {len(audit.failures)} gating node(s) failed: "
                + "; ".join(f["node"] for f in audit.failures[:10])
            )
        con = open_file(self.build_db)
        con.execute("checkpoint warehouse")
        con.execute("use memory")
        con.execute("detach warehouse")
        con.close()
        self.published_db.parent.mkdir(parents=True, exist_ok=True)
        # A rename is atomic: a new reader sees the old file or the new one, never a mix; a reader
        # holding the old file keeps its snapshot until it reconnects.
        os.replace(self.build_db, self.published_db)
        _keep_audit(self.settings)
        log.info("published %s", self.published_db)
        # The analysts' masked file follows every publish (builds, erasures, retention), if there is one.
        from orchestration.masking import refresh_masked_file

        refresh_masked_file(self.settings)

    def query_published(self, sql: str) -> list[tuple]:
        con = open_read_only(self.published_db)
        try:
            return con.execute(sql).fetchall()
        finally:
            con.close()

    def describe_published(self) -> str:
        return str(self.published_db)


class PostgresWarehouse:
    """The shared server: raw_* schemas are loaded in place; models build into the build schema,
    which replaces the published schema by renames inside one transaction."""

    def __init__(self, settings: Settings):
        self.settings = settings
        self.pg = settings.postgres

    def connect(self):  # type: ignore[no-untyped-def]
        import psycopg2

        return psycopg2.connect(**self.pg.connect_kwargs())

    def prepare_build(self) -> None:
        """A fresh build schema holding copies of the published tables, so carried-forward state continues."""
        self.settings.audit_path.unlink(missing_ok=True)
        build, published = self.pg.build_schema, self.pg.published_schema
        with self.connect() as con, con.cursor() as cur:
            cur.execute(f'drop schema if exists "{build}" cascade')
            cur.execute(f'create schema "{build}"')
            cur.execute(
                "select table_name from information_schema.tables "
                "where table_schema = %s and table_type = 'BASE TABLE'",
                (published,),
            )
            for (table,) in cur.fetchall():
                cur.execute(f'create table "{build}"."{table}" as table "{published}"."{table}"')

    def ensure_build(self) -> None:
        with self.connect() as con, con.cursor() as cur:
            cur.execute(
                "select 1 from information_schema.schemata where schema_name = %s", (self.pg.build_schema,)
            )
            exists = cur.fetchone() is not None
        if not exists:
            self.prepare_build()

    def load_raw(self, raw_dir: Path) -> list[TableLoad]:
        loads = []
        with self.connect() as con:
            counts = load_person_sources_postgres(con, self.settings)
            with con.cursor() as cur:
                cur.execute("select count(*) from raw_person_sources.external_ids")
                external = cur.fetchone()[0]
            con.commit()
            loads += _person_source_loads(counts, external)
            for source, table, path in raw_files(raw_dir):
                loads.append(self._load_table(con, source, table, path))
                con.commit()
            # Retention: rows past the last enforced cut-off do not come back with the reload.
            from orchestration.retention.engine import PostgresRunner, retain_after_load

            retain_after_load(PostgresRunner(con))
        return loads

    def _load_table(self, con, source: str, table: str, path: Path) -> TableLoad:  # type: ignore[no-untyped-def]
        schema = f"raw_{source}"
        arrow_schema = pq.read_schema(path)
        fields = [f for f in arrow_schema if f.name != "_loaded_at"]
        n_rows = pq.ParquetFile(path).metadata.num_rows
        with con.cursor() as cur:
            cur.execute(f'create schema if not exists "{schema}"')
            cur.execute(
                "select column_name, data_type from information_schema.columns "
                "where table_schema = %s and table_name = %s order by ordinal_position",
                (schema, table),
            )
            previous = {name: dtype for name, dtype in cur.fetchall() if name != "_loaded_at"}
            added, missing = _drift(previous, [f.name for f in fields]) if previous else ([], [])
            target = f'"{schema}"."{table}"'
            # The table is kept and refilled (truncate + copy, in this transaction), not replaced:
            # views built on it stay valid, and readers see the old rows until the commit. A column
            # the file lacks stays, null; a new column is added.
            if not previous:
                ddl = ", ".join(f'"{f.name}" {_pg_type(f.type)}' for f in fields)
                cur.execute(f"create table {target} ({ddl}, _loaded_at timestamp)")
            for f in fields:
                if previous and f.name in added:
                    cur.execute(f'alter table {target} add column "{f.name}" {_pg_type(f.type)}')
            cur.execute(f"truncate {target}")
            names = ", ".join(f'"{f.name}"' for f in fields)
            # DuckDB writes the CSV (fast, typed values in ISO form); COPY streams it in.
            with tempfile.NamedTemporaryFile(suffix=".csv") as tmp:
                duckdb.sql(
                    f"copy (select {names} from read_parquet('{path}')) to '{tmp.name}' "
                    "(header false, nullstr '\\N', timestampformat '%Y-%m-%d %H:%M:%S.%f')"
                )
                with open(tmp.name) as handle:
                    cur.copy_expert(
                        f"copy {target} ({names}) from stdin with (format csv, null '\\N')", handle
                    )
            cur.execute(f"update {target} set _loaded_at = now() at time zone 'utc'")
        return TableLoad(source, table, n_rows, added, missing)

    def publish(self) -> None:
        audit = Audit.read(self.settings.audit_path)
        if audit is None or not audit.passed:
            failed = [] if audit is None else [f["node"] for f in audit.failures[:10]]
            raise PublishBlocked(f"Not publishing: the build's audit did not pass: {failed or 'no audit'}")
        build, published = self.pg.build_schema, self.pg.published_schema
        previous = f"{published}__previous"
        with self.connect() as con, con.cursor() as cur:
            cur.execute(f'drop schema if exists "{previous}" cascade')
            cur.execute("select 1 from information_schema.schemata where schema_name = %s", (published,))
            if cur.fetchone():
                cur.execute(f'alter schema "{published}" rename to "{previous}"')
            cur.execute(f'alter schema "{build}" rename to "{published}"')
            # The masked views (macros/privacy/) move with their build, grants included.
            _swap_schema(cur, f"{build}_masked", f"{published}_masked")
        # Dropped after the swap committed, so a reader mid-query never sees a missing schema.
        with self.connect() as con, con.cursor() as cur:
            cur.execute(f'drop schema if exists "{previous}" cascade')
            cur.execute(f'drop schema if exists "{published}_masked__previous" cascade')
        _keep_audit(self.settings)

    def query_published(self, sql: str) -> list[tuple]:
        with self.connect() as con, con.cursor() as cur:
            cur.execute(f'set search_path to "{self.pg.published_schema}", public')
            cur.execute(sql)
            return list(cur.fetchall())

    def read_build_table(self, table: str, columns: list[str] | None = None) -> pa.Table:
        """A table of the build schema as Arrow, typed as DuckDB would type it (for Python steps that
        run between dbt invocations). COPY streams it out as CSV; DuckDB parses it with the declared types."""
        schema = self.pg.build_schema
        with self.connect() as con, con.cursor() as cur:
            cur.execute(
                "select column_name, data_type from information_schema.columns "
                "where table_schema = %s and table_name = %s order by ordinal_position",
                (schema, table),
            )
            declared = dict(cur.fetchall())
            if not declared:
                raise RuntimeError(
                    f"{schema}.{table} does not exist: the dbt invocation before this step did not build it"
                )
            wanted = list(declared) if columns is None else columns
            missing = [name for name in wanted if name not in declared]
            if missing:
                raise RuntimeError(f"{schema}.{table} lacks the columns {missing}")
            unknown = {name: declared[name] for name in wanted if declared[name] not in _DUCKDB_TYPES}
            if unknown:
                raise RuntimeError(f"{schema}.{table}: no DuckDB type for the columns {unknown}")
            names = ", ".join(f'"{name}"' for name in wanted)
            cur.execute("set client_encoding to 'UTF8'")
            cur.execute("set datestyle to 'ISO, YMD'")
            with tempfile.NamedTemporaryFile(suffix=".csv") as tmp:
                with open(tmp.name, "w", encoding="utf-8") as handle:
                    cur.copy_expert(
                        f'copy (select {names} from "{schema}"."{table}") to stdout with (format csv, null \'\\N\')',
                        handle,
                    )
                types = ", ".join(f"'{name}': '{_DUCKDB_TYPES[declared[name]]}'" for name in wanted)
                reader = duckdb.connect()
                try:
                    # A quoted \N or "" is a value, never null: only the unquoted marker is.
                    return reader.sql(
                        f"select * from read_csv('{tmp.name}', columns = {{{types}}}, header = false, "
                        "auto_detect = false, nullstr = '\\N', allow_quoted_nulls = false, "
                        "quote = '\"', escape = '\"')"
                    ).to_arrow_table()
                finally:
                    reader.close()

    def write_build_table(self, table: str, rows: pa.Table) -> None:
        """Replace <build schema>.<table> with `rows`, in one transaction. DuckDB writes the CSV
        (values in ISO form, doubles to full precision); COPY streams it in."""
        target = f'"{self.pg.build_schema}"."{table}"'
        ddl = ", ".join(f'"{f.name}" {_pg_type(f.type)}' for f in rows.schema)
        names = ", ".join(f'"{f.name}"' for f in rows.schema)
        with tempfile.NamedTemporaryFile(suffix=".csv") as tmp:
            writer = duckdb.connect()
            try:
                writer.register("written_rows", rows)
                writer.execute(
                    f"copy (select {names} from written_rows) to '{tmp.name}' "
                    "(header false, nullstr '\\N', timestampformat '%Y-%m-%d %H:%M:%S.%f')"
                )
            finally:
                writer.close()
            with self.connect() as con, con.cursor() as cur, open(tmp.name, encoding="utf-8") as handle:
                cur.execute("set client_encoding to 'UTF8'")
                cur.execute(f"drop table if exists {target}")
                cur.execute(f"create table {target} ({ddl})")
                cur.copy_expert(f"copy {target} ({names}) from stdin with (format csv, null '\\N')", handle)

    def drop_build_table(self, table: str) -> None:
        with self.connect() as con, con.cursor() as cur:
            cur.execute(f'drop table if exists "{self.pg.build_schema}"."{table}"')

    def describe_published(self) -> str:
        return f"postgres://{self.pg.user}@{self.pg.host}:{self.pg.port}/{self.pg.database} schema {self.pg.published_schema}"


def _swap_schema(cur, build: str, published: str) -> None:  # type: ignore[no-untyped-def]
    """Within the caller's transaction: `build` replaces `published` (kept as `<published>__previous`)."""
    cur.execute("select 1 from information_schema.schemata where schema_name = %s", (build,))
    if cur.fetchone() is None:
        return
    cur.execute(f'drop schema if exists "{published}__previous" cascade')
    cur.execute("select 1 from information_schema.schemata where schema_name = %s", (published,))
    if cur.fetchone():
        cur.execute(f'alter schema "{published}" rename to "{published}__previous"')
    cur.execute(f'alter schema "{build}" rename to "{published}"')


def _person_source_loads(counts: dict[str, int], external_ids: int) -> list[TableLoad]:
    """The two landing tables of the declared person sources, as raw table loads."""
    for name, rows in counts.items():
        log.info("person source %s: %d rows loaded", name, rows)
    return [
        TableLoad("person_sources", "records", sum(counts.values())),
        TableLoad("person_sources", "external_ids", external_ids),
    ]


def _keep_audit(settings: Settings) -> None:
    """The published build's audit stays beside the published data, for `tessera summary`."""
    os.replace(settings.audit_path, settings.last_audit_path)


# Postgres column types (information_schema) as DuckDB reads them from CSV.
_DUCKDB_TYPES = {
    "text": "varchar",
    "character varying": "varchar",
    "character": "varchar",
    "boolean": "boolean",
    "smallint": "smallint",
    "integer": "integer",
    "bigint": "bigint",
    "real": "float",
    "double precision": "double",
    "numeric": "double",
    "date": "date",
    "timestamp without time zone": "timestamp",
}


def _pg_type(arrow_type: pa.DataType) -> str:
    if pa.types.is_boolean(arrow_type):
        return "boolean"
    if pa.types.is_integer(arrow_type):
        return "bigint"
    if pa.types.is_floating(arrow_type):
        return "double precision"
    if pa.types.is_timestamp(arrow_type):
        return "timestamp"
    if pa.types.is_date(arrow_type):
        return "date"
    return "text"
