"""Apache Spark (issue #17; docs/spark.md): dbt-spark and this module both talk to one Spark
Thrift server (a local standalone cluster from `make spark-up`, or any Spark with a Thrift endpoint).

What works: preparing the build database, loading the raw files and the declared person sources into
raw_* databases (Spark reads the Parquet files itself, on the workers), reading and writing build tables,
and querying. What does not yet: publishing (write-audit-publish needs a swap Spark can do: it cannot
rename a database), scratch builds, syncs and retention on Spark; those raise NotImplementedError.

Needs the `spark` extra (`make spark-install`): pyhive is imported only when a connection is opened.
"""

from __future__ import annotations

import contextlib
import logging
import os
import re
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq

from orchestration.person_sources.load import load_duckdb as load_person_sources_duckdb
from orchestration.retention.engine import Runner
from orchestration.settings import PROJECT_DIR, Settings
from orchestration.warehouse.interface import SyncLocation, WithoutDemoLoaderTables
from orchestration.warehouse.load import TableLoad, drift, person_source_loads, raw_files
from orchestration.warehouse.raw_contract import LOAD_STAMP, check_raw_files, optional_missing, raw_contract

log = logging.getLogger(__name__)

ISSUE = "not on Spark yet (issue #17, docs/spark.md)"
_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


@dataclass(frozen=True)
class SparkSettings:
    """Where the Thrift server is and which Spark databases (schemas) a build uses; from the environment,
    read by profiles.yml's `spark` target too."""

    host: str
    port: int
    user: str
    build_schema: str
    published_schema: str
    # A folder the Spark workers can read (the local cluster: same machine) for files this module stages.
    landing_dir: Path

    @classmethod
    def from_env(cls, env: dict[str, str] | None = None) -> SparkSettings:
        env = dict(os.environ if env is None else env)
        home = Path(env.get("TESSERA_SPARK_HOME") or PROJECT_DIR / "warehouse" / "spark")
        home = home if home.is_absolute() else PROJECT_DIR / home
        return cls(
            host=env.get("TESSERA_SPARK_HOST", "127.0.0.1"),
            port=int(env.get("TESSERA_SPARK_THRIFT_PORT", "10000")),
            user=env.get("TESSERA_SPARK_USER", "tessera"),
            build_schema=env.get("TESSERA_SPARK_BUILD_SCHEMA", "tessera_build"),
            published_schema=env.get("TESSERA_SPARK_SCHEMA", "tessera"),
            landing_dir=home / "landing",
        )


def ident(name: str) -> str:
    """A Spark identifier in backquotes (a backquote in the name is doubled)."""
    return "`" + name.replace("`", "``") + "`"


def _checked(name: str) -> str:
    if not _NAME.match(name):
        raise ValueError(f"not a plain Spark name: {name!r}")
    return name


def spark_type(arrow_type: pa.DataType) -> str:
    if pa.types.is_boolean(arrow_type):
        return "boolean"
    if pa.types.is_integer(arrow_type):
        return "bigint"
    if pa.types.is_floating(arrow_type):
        return "double"
    if pa.types.is_timestamp(arrow_type):
        return "timestamp"
    if pa.types.is_date(arrow_type):
        return "date"
    return "string"


class SparkWarehouse(WithoutDemoLoaderTables):
    """Spark through its Thrift server: raw_* databases loaded from the Parquet files; dbt builds into the
    build database. Publishing is not implemented yet (see the module docstring)."""

    python_steps_outside_dbt = True
    runs_syncs = False
    attaches_database_files = False
    publishes = False
    audiences_build_as_a_role = False
    privacy_backend = "orchestration.privacy.backend_spark:SparkErasure"  # not written yet (issue #17)

    def __init__(self, settings: Settings, spark: SparkSettings | None = None):
        self.settings = settings
        self.spark = spark or SparkSettings.from_env()

    def dbt_profile_environment(self) -> dict[str, str]:
        """Nothing: the profile names no local file."""
        return {}

    # -- connections -------------------------------------------------------------------------------

    @contextlib.contextmanager
    def cursor(self) -> Iterator[Any]:
        try:
            from pyhive import hive
        except ImportError as error:
            raise RuntimeError("the Spark target needs the spark extra: run `make spark-install`") from error
        con = hive.connect(host=self.spark.host, port=self.spark.port, username=self.spark.user)
        try:
            cur = con.cursor()
            try:
                yield cur
            finally:
                cur.close()
        finally:
            con.close()

    def sql(self, statement: str) -> list[tuple]:
        with self.cursor() as cur:
            cur.execute(statement)
            return list(cur.fetchall()) if cur.description else []

    def _tables(self, cur: Any, schema: str) -> list[str]:
        cur.execute("show databases")
        if schema not in {name for (name,) in cur.fetchall()}:
            return []
        cur.execute(f"show tables in {ident(schema)}")
        # (namespace, tableName, isTemporary)
        return [row[1] for row in cur.fetchall() if not row[2]]

    def _columns(self, cur: Any, schema: str, table: str) -> dict[str, str]:
        if table not in self._tables(cur, schema):
            return {}
        cur.execute(f"describe table {ident(schema)}.{ident(table)}")
        columns: dict[str, str] = {}
        for name, dtype, *_ in cur.fetchall():
            if not name or name.startswith("#"):  # partition information follows a blank line
                break
            columns[name] = dtype
        return columns

    # -- the build ---------------------------------------------------------------------------------

    def prepare_build(self) -> None:
        """A fresh build database holding copies of the published tables, so carried-forward state
        continues (nothing is published on Spark yet, so today it starts empty)."""
        self.settings.audit_path.unlink(missing_ok=True)
        self.settings.landed_path.unlink(missing_ok=True)
        build, published = _checked(self.spark.build_schema), _checked(self.spark.published_schema)
        with self.cursor() as cur:
            cur.execute(f"drop database if exists {ident(build)} cascade")
            cur.execute(f"create database {ident(build)}")
            for table in self._tables(cur, published):
                cur.execute(
                    f"create table {ident(build)}.{ident(table)} using parquet as "
                    f"select * from {ident(published)}.{ident(table)}"
                )

    def ensure_build(self) -> None:
        with self.cursor() as cur:
            cur.execute("show databases")
            exists = self.spark.build_schema in {name for (name,) in cur.fetchall()}
        if not exists:
            self.prepare_build()

    def load_raw(self, raw_dir: Path) -> list[TableLoad]:
        """Replace each raw_<source>.<table> with its Parquet file, read by Spark itself (on the workers;
        the local cluster shares this machine's disk). A file that lacks a column staging requires stops
        the load before any table changes (RawContractError). A column the table had, or an optional
        declared one, the file lacks is kept as null and reported; a new column is kept and reported.

        The declared person sources are read and checked by the same code as on DuckDB (in memory), then
        landed as Parquet and loaded like a raw file. A source declared as a warehouse `table:` cannot be
        read that way yet: its check fails with "does not exist in the warehouse"."""
        files = raw_files(raw_dir)
        contracts = raw_contract()
        check_raw_files(files, contracts)
        self.ensure_build()
        landing = self.spark.landing_dir / "person_sources"
        shutil.rmtree(landing, ignore_errors=True)
        landing.mkdir(parents=True)
        local = duckdb.connect()
        try:
            counts = load_person_sources_duckdb(local, self.settings)
            external = local.execute("select count(*) from raw_person_sources.external_ids").fetchone()[0]  # type: ignore[index]
            for table in ("records", "external_ids"):
                local.execute(
                    f"copy raw_person_sources.{table} to '{landing / table}.parquet' (format parquet)"
                )
        finally:
            local.close()
        loads = person_source_loads(counts, external)
        with self.cursor() as cur:
            for table in ("records", "external_ids"):
                self._load_file(cur, "person_sources", table, landing / f"{table}.parquet", {}, stamp=False)
            for source, table, path in files:
                loads.append(self._load_file(cur, source, table, path, contracts))
        for load in loads:
            if load.columns_added or load.columns_missing:
                log.warning(
                    "schema drift in %s.%s: new %s, missing %s",
                    load.source,
                    load.table,
                    load.columns_added,
                    load.columns_missing,
                )
        return loads

    def _load_file(
        self, cur: Any, source: str, table: str, path: Path, contracts: dict, *, stamp: bool = True
    ) -> TableLoad:
        schema = f"raw_{_checked(source)}"
        arrow_schema = pq.read_schema(path)
        incoming = arrow_schema.names
        cur.execute(f"create database if not exists {ident(schema)}")
        previous = {c: t for c, t in self._columns(cur, schema, _checked(table)).items() if c != LOAD_STAMP}
        added, missing = drift(previous, [c for c in incoming if c != LOAD_STAMP]) if previous else ([], [])
        types = {c: previous[c] for c in missing}
        for column in optional_missing(source, table, incoming, contracts):
            if column not in types:
                missing.append(column)
                types[column] = "string"
        keep = [c for c in incoming if not (stamp and c == LOAD_STAMP)]
        select = ", ".join(ident(c) for c in keep)
        select += "".join(f", cast(null as {types[c]}) as {ident(c)}" for c in missing)
        if stamp:
            # The load time is stamped here (UTC, without zone, as on the other warehouses).
            select += f", cast(to_utc_timestamp(current_timestamp(), current_timezone()) as timestamp) as {LOAD_STAMP}"
        target = f"{ident(schema)}.{ident(table)}"
        cur.execute(f"drop table if exists {target}")
        location = "file://" + str(path.resolve()).replace("`", "")
        cur.execute(f"create table {target} using parquet as select {select} from parquet.`{location}`")
        cur.execute(f"select count(*) from {target}")
        rows = int(cur.fetchone()[0])
        return TableLoad(source, table, rows, added, missing)

    def publish(self) -> None:
        raise NotImplementedError(
            f"publishing is {ISSUE}: Spark cannot rename a database, so write-audit-publish needs a view "
            f"swap over per-build databases; the build stays in {self.spark.build_schema}"
        )

    def query_published(self, sql: str) -> list[tuple]:
        with self.cursor() as cur:
            cur.execute(f"use {ident(_checked(self.spark.published_schema))}")
            cur.execute(sql)
            return list(cur.fetchall())

    def describe_published(self) -> str:
        return f"spark thrift://{self.spark.host}:{self.spark.port} database {self.spark.published_schema}"

    def how_to_query(self) -> list[str]:
        return [
            f"Query the database {self.spark.published_schema} through the Spark Thrift server "
            f"{self.spark.host}:{self.spark.port} (beeline, pyhive, dbt-spark, a BI tool's Spark connector)."
        ]

    def published_columns(self, schema: str, table: str) -> list[str] | None:
        try:
            with self.cursor() as cur:
                return list(self._columns(cur, schema, table)) or None
        except Exception:  # the server is down: nothing can be read as published
            return None

    def read_build_table(self, table: str, columns: list[str] | None = None) -> pa.Table:
        """A build table as Arrow (fetched through the Thrift server: fine for the step-sized tables the
        Python steps read; a Spark-side reader for large ones is part of issue #17)."""
        schema = self.spark.build_schema
        with self.cursor() as cur:
            declared = self._columns(cur, schema, table)
            if not declared:
                raise RuntimeError(
                    f"{schema}.{table} does not exist: the dbt invocation before this step did not build it"
                )
            wanted = list(declared) if columns is None else columns
            missing = [name for name in wanted if name not in declared]
            if missing:
                raise RuntimeError(f"{schema}.{table} lacks the columns {missing}")
            cur.execute(f"select {', '.join(ident(c) for c in wanted)} from {ident(schema)}.{ident(table)}")
            rows = cur.fetchall()
        return pa.table({name: [row[i] for row in rows] for i, name in enumerate(wanted)})

    def write_build_table(self, table: str, rows: pa.Table) -> None:
        """Replace <build>.<table> with `rows`: landed as Parquet where the workers read it, then loaded."""
        landing = self.spark.landing_dir / "written"
        landing.mkdir(parents=True, exist_ok=True)
        path = landing / f"{_checked(table)}.parquet"
        pq.write_table(rows, path)
        target = f"{ident(self.spark.build_schema)}.{ident(table)}"
        with self.cursor() as cur:
            cur.execute(f"drop table if exists {target}")
            if rows.num_rows:
                cur.execute(
                    f"create table {target} using parquet as select * from parquet.`file://{path.resolve()}`"
                )
            else:  # an empty file has no row group to infer from: declare the columns
                ddl = ", ".join(f"{ident(f.name)} {spark_type(f.type)}" for f in rows.schema)
                cur.execute(f"create table {target} ({ddl}) using parquet")

    def drop_build_table(self, table: str) -> None:
        self.sql(f"drop table if exists {ident(self.spark.build_schema)}.{ident(table)}")

    def sync_location(self) -> SyncLocation:
        raise NotImplementedError(f"syncs are {ISSUE}")

    def retention_runner(self, *, build: bool) -> contextlib.AbstractContextManager[Runner]:
        raise NotImplementedError(f"retention is {ISSUE}")

    def scratch(self) -> contextlib.AbstractContextManager[Settings]:
        raise NotImplementedError(f"scratch (what-if) builds are {ISSUE}")
