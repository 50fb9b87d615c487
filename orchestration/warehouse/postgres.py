"""The shared server: raw_* schemas are loaded in place; models build into the build schema, which replaces
the published schema by renames inside one transaction."""

from __future__ import annotations

import contextlib
import dataclasses
import logging
import shutil
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path

import duckdb
import psycopg2
import pyarrow as pa
import pyarrow.parquet as pq

from orchestration.person_sources.load import load_postgres as load_person_sources_postgres
from orchestration.person_sources.load import postgres_digest
from orchestration.retention.engine import PostgresRunner, retain_after_load
from orchestration.settings import Settings
from orchestration.warehouse.audit import Audit, PublishBlocked, keep_audit
from orchestration.warehouse.batches import BATCH_ROWS, closing_reader, spooled_parquet, wanted_columns
from orchestration.warehouse.interface import SyncLocation, information_schema_raw_tables
from orchestration.warehouse.load import (
    TableLoad,
    drift,
    is_stand_in,
    keep_earlier_load,
    person_source_loads,
    pg_type,
    quoted,
    raw_files,
)
from orchestration.warehouse.raw_contract import (
    LOAD_STAMP,
    TableContract,
    check_raw_files,
    optional_missing,
    raw_contract,
)
from orchestration.warehouse.types import POSTGRES_TO_DUCKDB_TYPES

log = logging.getLogger(__name__)


class PostgresWarehouse:
    """The shared server: raw_* schemas are loaded in place; models build into the build schema,
    which replaces the published schema by renames inside one transaction."""

    python_steps_outside_dbt = True
    runs_syncs = True
    attaches_database_files = False
    publishes = True
    utc_now_sql = "timezone('UTC', current_timestamp)"
    audiences_build_as_a_role = True
    privacy_backend = "orchestration.privacy.backend_postgres:PostgresErasure"
    writes_demo_loader_tables = True

    def __init__(self, settings: Settings):
        self.settings = settings
        self.pg = settings.postgres

    def dbt_profile_environment(self) -> dict[str, str]:
        """Nothing: the profile names no local file."""
        return {}

    def connect(self):  # type: ignore[no-untyped-def]
        return psycopg2.connect(**self.pg.connect_kwargs())

    def prepare_build(self) -> None:
        """A fresh build schema holding copies of the published tables, so carried-forward state continues."""
        self.settings.audit_path.unlink(missing_ok=True)
        self.settings.landed_path.unlink(missing_ok=True)
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
        """Refill each raw_<source>.<table> from its file. A file that lacks a column staging requires
        stops the load before any table changes (RawContractError): published staging reads these
        tables in place, so a half-changed raw schema would change what readers see."""
        files = raw_files(raw_dir)
        contracts = raw_contract()
        check_raw_files(files, contracts)
        loads = []
        with self.connect() as con:
            counts = load_person_sources_postgres(con, self.settings)
            with con.cursor() as cur:
                cur.execute("select count(*) from raw_person_sources.external_ids")
                external = cur.fetchone()[0]
            con.commit()
            loads += person_source_loads(counts, external)
            for source, table, path in files:
                loads.append(self._load_table(con, source, table, path, contracts))
                con.commit()
            self._record_schema_changes(con, loads)
            con.commit()
            # Retention: rows past the last enforced cut-off do not come back with the reload.
            retain_after_load(PostgresRunner(con))
        return loads

    def _record_schema_changes(self, con, loads: list[TableLoad]) -> None:  # type: ignore[no-untyped-def]
        """Keep this load's drift in the build schema's `raw_schema_changes` (published with the build, and
        carried into the next build as every published table is), so that syncs can hold removals that
        follow it (orchestration/sync/holds.py). Nothing is written for a load without drift."""
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
        self.ensure_build()
        target = f'"{self.pg.build_schema}".raw_schema_changes'
        with con.cursor() as cur:
            cur.execute(
                f"create table if not exists {target} (source_name text, table_name text, "
                "columns_added text, columns_missing text, loaded_at timestamp)"
            )
            cur.executemany(
                f"insert into {target} values (%s, %s, %s, %s, now() at time zone 'utc')",
                [
                    (load.source, load.table, ", ".join(added), ", ".join(missing))
                    for load, added, missing in changed
                ],
            )

    def _load_table(  # type: ignore[no-untyped-def]
        self, con, source: str, table: str, path: Path, contracts: dict[tuple[str, str], TableContract]
    ) -> TableLoad:
        schema = f"raw_{source}"
        arrow_schema = pq.read_schema(path)
        fields = [f for f in arrow_schema if f.name != LOAD_STAMP]
        n_rows = pq.ParquetFile(path).metadata.num_rows
        with con.cursor() as cur:
            cur.execute(f'create schema if not exists "{schema}"')
            cur.execute(
                "select column_name, data_type from information_schema.columns "
                "where table_schema = %s and table_name = %s order by ordinal_position",
                (schema, table),
            )
            previous = {name: dtype for name, dtype in cur.fetchall() if name != "_loaded_at"}
            if previous and is_stand_in(path):
                cur.execute(f'select count(*) from "{schema}"."{table}"')
                return keep_earlier_load(source, table, cur.fetchone()[0])
            added, missing = drift(previous, [f.name for f in fields]) if previous else ([], [])
            # Optional declared columns the file lacks are kept (null) too, so staging still reads them.
            absent = [
                c
                for c in optional_missing(source, table, [f.name for f in fields], contracts)
                if c not in previous
            ]
            missing += absent
            target = f'"{schema}"."{table}"'
            # The table is kept and refilled (truncate + copy, in this transaction), not replaced:
            # views built on it stay valid, and readers see the old rows until the commit. A column
            # the file lacks stays, null; a new column is added.
            if not previous:
                ddl = ", ".join(
                    [f"{quoted(f.name)} {pg_type(f.type)}" for f in fields]
                    + [f"{quoted(c)} text" for c in absent]
                )
                cur.execute(f"create table {target} ({ddl}, _loaded_at timestamp)")
            else:
                for column in absent:
                    cur.execute(f"alter table {target} add column {quoted(column)} text")
            for f in fields:
                if previous and f.name in added:
                    cur.execute(f"alter table {target} add column {quoted(f.name)} {pg_type(f.type)}")
            # A row whose content the table already held keeps the earliest time that content was loaded
            # (the DuckDB warehouse's stamped_rows says why). The earlier contents' times are set aside by a
            # 64-bit hash of the row (hash_record_extended: no text form, Postgres 14 and later), the file
            # is copied into a temporary table, and the table is refilled from it in one insert that takes
            # those times (an update of the refilled rows instead cost twice as long).
            names = ", ".join(quoted(f.name) for f in fields)
            now = "now() at time zone 'utc'"

            def digest(alias: str) -> str:
                return postgres_digest([alias + quoted(f.name) for f in fields])

            reader = duckdb.connect()
            try:
                if previous and fields:
                    cur.execute(
                        f"create temp table _tessera_earlier on commit drop as select {digest('')} as row_digest, "
                        f"min(_loaded_at) as loaded_at from {target} group by 1"
                    )
                    cur.execute(
                        f"create temp table _tessera_incoming on commit drop as select {names} from {target} "
                        "with no data"
                    )
                    _copy_in(
                        cur, reader, f"select {names} from read_parquet('{path}')", "_tessera_incoming", names
                    )
                    cur.execute(f"truncate {target}")
                    cur.execute(
                        f"insert into {target} ({names}, _loaded_at) select incoming.*, "
                        f"coalesce(earlier.loaded_at, {now}) from _tessera_incoming as incoming "
                        f"left join _tessera_earlier as earlier on earlier.row_digest = {digest('incoming.')}"
                    )
                else:
                    cur.execute(f"truncate {target}")
                    _copy_in(cur, reader, f"select {names} from read_parquet('{path}')", target, names)
                    cur.execute(f"update {target} set _loaded_at = {now}")
            finally:
                reader.close()
        return TableLoad(source, table, n_rows, added, missing)

    def write_demo_loader_tables(
        self, raw_dir: Path, systems: list[str] | None = None
    ) -> dict[str, dict[str, int]]:
        """The tables the DuckDB warehouse would write (write_loader_shapes, run on an in-memory DuckDB over
        the raw files), each copied into the server's schema of the same name, where a company's loader
        tables would be read in place; the raw contract's tables of each system written are dropped. One
        transaction: readers see the old tables or the new, never half. Postgres binds a view to its
        tables, so the published staging views over a replaced table go with it; the run that follows the
        demo builds and publishes them again."""
        from orchestration.generate.loader_shapes import LOADER_SHAPES, raw_contract_tables
        from orchestration.warehouse.demo_loader_tables import write_loader_shapes

        shapes = duckdb.connect()
        try:
            # The load times are UTC, as the raw contract's loads stamp them here (now() at time zone 'utc').
            shapes.execute("set TimeZone = 'UTC'")
            written = write_loader_shapes(raw_dir, shapes, systems)
            with self.connect() as con, con.cursor() as cur:
                for system, tables in written.items():
                    schema = LOADER_SHAPES[system][1]
                    cur.execute(f'drop schema if exists "{schema}" cascade')
                    cur.execute(f'create schema "{schema}"')
                    for raw_schema, table in raw_contract_tables(system):
                        cur.execute(f'drop table if exists "{raw_schema}"."{table}" cascade')
                    for name in tables:
                        table = name.split(".", 1)[1]
                        _create_and_copy_in(cur, shapes, f'"{schema}"."{table}"', f'"{schema}"."{table}"')
        finally:
            shapes.close()
        return written

    def demo_loader_database(self) -> None:
        """None: the demo's loader tables go into schemas of the server's database (write_demo_loader_tables)."""
        return None

    def demo_loader_tables_present(self, tables: list[tuple[str, str]]) -> bool:
        return all(self.published_columns(schema, table) for schema, table in tables)

    def drop_demo_loader_tables(self) -> None:
        from orchestration.generate.loader_shapes import loader_schemas

        with self.connect() as con, con.cursor() as cur:
            for schema in loader_schemas():
                cur.execute(f'drop schema if exists "{schema}" cascade')

    def restamp_demo_loader_tables(self) -> None:
        """Each load-time column moves by one interval, so its latest time is now (UTC) and the rows keep
        their order (restamp_loader_shapes, in Postgres's SQL)."""
        from orchestration.generate.loader_shapes import LOAD_TIME_COLUMNS, loader_schemas

        with self.connect() as con, con.cursor() as cur:
            cur.execute(
                "select table_schema, table_name, column_name from information_schema.columns "
                "where column_name = any(%s) and table_schema = any(%s)",
                (list(LOAD_TIME_COLUMNS), loader_schemas()),
            )
            for schema, table, column in cur.fetchall():
                target, stamp = f'"{schema}"."{table}"', quoted(column)
                cur.execute(
                    f"update {target} set {stamp} = {stamp} + "
                    f"((now() at time zone 'utc') - (select max({stamp}) from {target}))"
                )

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
        keep_audit(self.settings)

    def query_published(self, sql: str) -> list[tuple]:
        with self.connect() as con, con.cursor() as cur:
            cur.execute(f'set search_path to "{self.pg.published_schema}", public')
            cur.execute(sql)
            return list(cur.fetchall())

    def read_build_table(self, table: str, columns: list[str] | None = None) -> pa.Table:
        """A table of the build schema as Arrow, typed as DuckDB would type it (for Python steps that
        run between dbt invocations): read_build_table_batches, read to the end."""
        return self.read_build_table_batches(table, columns).read_all()

    def read_build_table_batches(
        self, table: str, columns: list[str] | None = None, batch_rows: int = BATCH_ROWS
    ) -> pa.RecordBatchReader:
        """A table of the build schema as a stream of Arrow batches, typed as DuckDB would type it. COPY
        streams it out to a CSV file; DuckDB parses it with the declared types, a batch at a time (the
        file is removed once the stream is read)."""
        schema = self.pg.build_schema
        folder = Path(tempfile.mkdtemp(prefix="tessera-read-"))
        csv = folder / "rows.csv"
        try:
            with self.connect() as con, con.cursor() as cur:
                cur.execute(
                    "select column_name, data_type from information_schema.columns "
                    "where table_schema = %s and table_name = %s order by ordinal_position",
                    (schema, table),
                )
                declared = dict(cur.fetchall())
                wanted = wanted_columns(f"{schema}.{table}", declared, columns)
                unknown = {
                    name: declared[name] for name in wanted if declared[name] not in POSTGRES_TO_DUCKDB_TYPES
                }
                if unknown:
                    raise RuntimeError(f"{schema}.{table}: no DuckDB type for the columns {unknown}")
                names = ", ".join(f'"{name}"' for name in wanted)
                cur.execute("set client_encoding to 'UTF8'")
                cur.execute("set datestyle to 'ISO, YMD'")
                with open(csv, "w", encoding="utf-8") as handle:
                    cur.copy_expert(
                        f'copy (select {names} from "{schema}"."{table}") to stdout with (format csv, null \'\\N\')',
                        handle,
                    )
            types = ", ".join(f"'{name}': '{POSTGRES_TO_DUCKDB_TYPES[declared[name]]}'" for name in wanted)
            reader = duckdb.connect()
        except BaseException:
            shutil.rmtree(folder, ignore_errors=True)
            raise

        def close() -> None:
            reader.close()
            shutil.rmtree(folder, ignore_errors=True)

        try:
            # A quoted \N or "" is a value, never null: only the unquoted marker is.
            batches = reader.sql(
                f"select * from read_csv('{csv}', columns = {{{types}}}, header = false, "
                "auto_detect = false, nullstr = '\\N', allow_quoted_nulls = false, "
                "quote = '\"', escape = '\"')"
            ).to_arrow_reader(batch_rows)
        except BaseException:
            close()
            raise
        return closing_reader(batches, close)

    def write_build_table(self, table: str, rows: pa.Table) -> None:
        """Replace <build schema>.<table> with `rows`, in one transaction (_create_and_copy_in)."""
        target = f'"{self.pg.build_schema}"."{table}"'
        writer = duckdb.connect()
        try:
            writer.register("written_rows", rows)
            with self.connect() as con, con.cursor() as cur:
                cur.execute(f"drop table if exists {target}")
                _create_and_copy_in(cur, writer, "written_rows", target, rows.schema)
        finally:
            writer.close()

    def write_build_table_batches(self, table: str, rows: pa.RecordBatchReader) -> int:
        """Replace <build schema>.<table> with the stream `rows`, in one transaction: spooled to Parquet
        a batch at a time, then copied in as write_build_table copies a table."""
        target = f'"{self.pg.build_schema}"."{table}"'
        with spooled_parquet(rows) as (path, count):
            writer = duckdb.connect()
            try:
                source = str(path).replace("'", "''")
                writer.execute(f"create view written_rows as select * from read_parquet('{source}')")
                with self.connect() as con, con.cursor() as cur:
                    cur.execute(f"drop table if exists {target}")
                    _create_and_copy_in(cur, writer, "written_rows", target, rows.schema)
            finally:
                writer.close()
        return count

    def drop_build_table(self, table: str) -> None:
        with self.connect() as con, con.cursor() as cur:
            cur.execute(f'drop table if exists "{self.pg.build_schema}"."{table}"')

    def raw_tables(self) -> list[tuple[str, str, str]]:
        return information_schema_raw_tables(self.query_published)

    def dbt_environment(self) -> dict[str, str]:
        """Nothing: the profile names the build schema itself."""
        return {}

    def describe_published(self) -> str:
        return f"postgres://{self.pg.user}@{self.pg.host}:{self.pg.port}/{self.pg.database} schema {self.pg.published_schema}"

    def how_to_query(self) -> list[str]:
        return [
            f"Query the schema {self.pg.published_schema} with any Postgres client (psql, dbt, a BI tool)."
        ]

    def published_columns(self, schema: str, table: str) -> list[str] | None:
        try:
            con = self.connect()
        except psycopg2.Error:
            return None
        try:
            with con, con.cursor() as cur:
                cur.execute(
                    "select column_name from information_schema.columns "
                    "where table_schema = %s and table_name = %s order by ordinal_position",
                    (schema, table),
                )
                return [name for (name,) in cur.fetchall()]
        finally:
            con.close()

    def sync_location(self) -> SyncLocation:
        """The published schema, read in place; state and history in the schema `<published>_sync`,
        which publishes never touch (they rename only the build, published and masked schemas)."""
        published = self.pg.published_schema
        return SyncLocation(
            store="postgres",
            published=published,
            state=f"{published}_sync",
            history=None,
            connect=self.pg.connect_kwargs(),
        )

    @contextlib.contextmanager
    def retention_runner(self, *, build: bool) -> Iterator[PostgresRunner]:
        con = self.connect()
        try:
            yield PostgresRunner(con)
            con.commit()
        finally:
            con.close()

    @contextlib.contextmanager
    def scratch(self) -> Iterator[Settings]:
        """A scratch schema holding copies of the published tables, dropped on exit (with the masked
        schema a build makes beside it). Its settings name a published schema that does not exist,
        so nothing done through them can replace what readers see."""
        published = self.pg.published_schema
        name = f"{published}_scratch_{uuid.uuid4().hex[:8]}"
        scratch = dataclasses.replace(
            self.settings,
            postgres=dataclasses.replace(
                self.pg, build_schema=name, published_schema=f"{name}_never_published"
            ),
        )
        try:
            with self.connect() as con, con.cursor() as cur:
                cur.execute(
                    "select table_name from information_schema.tables "
                    "where table_schema = %s and table_type = 'BASE TABLE'",
                    (published,),
                )
                tables = [table for (table,) in cur.fetchall()]
                if not tables:
                    raise FileNotFoundError(
                        f"nothing is published yet in the schema {published}: run the build first"
                    )
                cur.execute(f'create schema "{name}"')
                for table in tables:
                    cur.execute(f'create table "{name}"."{table}" as table "{published}"."{table}"')
            yield scratch
        finally:
            with self.connect() as con, con.cursor() as cur:
                cur.execute(f'drop schema if exists "{name}" cascade')
                cur.execute(f'drop schema if exists "{name}_masked" cascade')


def _create_and_copy_in(  # type: ignore[no-untyped-def]
    cur, source: duckdb.DuckDBPyConnection, relation: str, target: str, fields: pa.Schema | None = None
) -> None:
    """Within the caller's transaction: create `target` with the columns `fields` (default: those of
    DuckDB's `relation`), typed for Postgres (pg_type), and copy the rows of `relation` in."""
    if fields is None:
        fields = source.sql(f"select * from {relation} limit 0").to_arrow_table().schema
    ddl = ", ".join(f"{quoted(f.name)} {pg_type(f.type)}" for f in fields)
    names = ", ".join(quoted(f.name) for f in fields)
    cur.execute(f"create table {target} ({ddl})")
    _copy_in(cur, source, f"select {names} from {relation}", target, names)


def _copy_in(cur, source: duckdb.DuckDBPyConnection, select: str, target: str, names: str) -> None:  # type: ignore[no-untyped-def]
    """Append the rows of DuckDB's `select` to the columns `names` of `target`: DuckDB writes them as CSV
    (fast, typed values in ISO form, doubles to full precision); COPY streams it in."""
    cur.execute("set client_encoding to 'UTF8'")
    with tempfile.NamedTemporaryFile(suffix=".csv") as tmp:
        source.execute(
            f"copy ({select}) to '{tmp.name}' "
            "(header false, nullstr '\\N', timestampformat '%Y-%m-%d %H:%M:%S.%f')"
        )
        with open(tmp.name, encoding="utf-8") as handle:
            cur.copy_expert(f"copy {target} ({names}) from stdin with (format csv, null '\\N')", handle)


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
