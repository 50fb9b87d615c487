"""Apache Spark (issue #17; docs/spark.md): dbt-spark and this module both talk to one Spark
Thrift server (a local standalone cluster from `make spark-up`, or any Spark with a Thrift endpoint).

What works: preparing a build, loading the raw files and the declared person sources into raw_*
databases (Spark reads the Parquet files itself, on the workers), naming the build database to every dbt
invocation (dbt_environment: build() and the Dagster job alike), reading and writing build tables,
querying, publishing (write-audit-publish), and the sync engine's location (orchestration/sync/stores/
spark.py). What does not yet: scratch builds and retention on Spark; those raise NotImplementedError.

Write-audit-publish without renames (Spark cannot rename a database, nor move a table to another one):
every build writes into a database of its own, `<build schema>_<n>` (n grows with every build), and
the published database (`tessera`) holds only views, `select * from <build>_<n>.<table>`, one per
table and view of the published build. `prepare_build` starts the next build database with copies of
the published build's tables (incremental models and the tables the Python steps write carry their
rows forward); dbt builds into it (dbt_profile_environment names it to profiles.yml). `publish`, once
the audit passed, records in the published database's properties which build the views are moving to
(`tessera.build`, `tessera.swap` = `moving`), points every view at it (`alter view`, which replaces
the definition in place; `create or replace view` would drop the view and create it again, and a
reader could find it missing in between), drops the views of tables the build no longer has, records
the swap `done`, and only then drops the build databases no view references. A swap that stopped
half-way is finished by the next `publish` or `prepare_build` before anything else, and no build
database is dropped while the swap that leaves it is not done.

What a reader observes (docs/spark.md, "Publishing"): each view names one complete table of one
audited build, so a reader never sees a half-written table, nor a view missing; during the swap
(seconds) some views already name the new build and others the old one, so a query that reads two
tables then may join different builds (no snapshot across tables). A query planned before its view
moved still reads the old build's files; if the old database is dropped before it has read them, it
fails (Spark reports the files missing) and returns nothing wrong: run again, it reads the new build.

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
from orchestration.retention.engine import SCHEMA as RETAINED
from orchestration.retention.engine import DuckDBRunner, Runner, ensure_tables
from orchestration.settings import PROJECT_DIR, Settings
from orchestration.warehouse.audit import keep_audit, passed_audit
from orchestration.warehouse.batches import BATCH_ROWS, wanted_columns, write_parquet
from orchestration.warehouse.interface import SyncLocation, WithoutDemoLoaderTables
from orchestration.warehouse.load import TableLoad, drift, person_source_loads, raw_files
from orchestration.warehouse.raw_contract import LOAD_STAMP, check_raw_files, optional_missing, raw_contract

log = logging.getLogger(__name__)

ISSUE = "not on Spark yet (issue #17, docs/spark.md)"
_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
# The published database's properties that record the swap (write-audit-publish, the module docstring):
# which build the views point at or are moving to, and whether they all point there yet.
BUILD_PROPERTY = "tessera.build"
SWAP_PROPERTY = "tessera.swap"
SWAP_MOVING = "moving"
SWAP_DONE = "done"
# What names the build under way's database to profiles.yml (dbt_profile_environment).
BUILD_DATABASE_ENV = "TESSERA_SPARK_BUILD_DATABASE"


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


_ARROW_TYPES = {
    "boolean": pa.bool_(),
    "tinyint": pa.int8(),
    "smallint": pa.int16(),
    "int": pa.int32(),
    "bigint": pa.int64(),
    "float": pa.float32(),
    "double": pa.float64(),
    "string": pa.string(),
    "date": pa.date32(),
    "timestamp": pa.timestamp("us"),
    "timestamp_ntz": pa.timestamp("us"),
}


def arrow_column(values: list[Any], declared: str) -> pa.Array:
    """One column fetched through the Thrift server as Arrow of its declared Spark type. The server
    sends dates as text ('2024-01-31'), parsed here, so the Python steps get the types they get from
    DuckDB and Postgres; PyHive already parses timestamps into datetimes (the text form is parsed too)."""
    wanted = _ARROW_TYPES.get(declared.lower())
    decimal = re.fullmatch(r"decimal\((\d+),\s*(\d+)\)", declared.strip().lower())
    if decimal:  # the declared precision, whatever the values seen: one batch types as the next
        wanted = pa.decimal128(int(decimal.group(1)), int(decimal.group(2)))
    if wanted is None:  # arrays, maps: as PyHive gives them
        return pa.array(values)
    if (pa.types.is_date(wanted) or pa.types.is_timestamp(wanted)) and any(
        isinstance(v, str) for v in values
    ):
        return pa.array(values, pa.string()).cast(wanted)
    return pa.array(values, wanted)


def _properties(described: list[tuple]) -> dict[str, str]:
    """The properties of `describe database extended` rows: Spark writes them as one value,
    `((key,value), (key,value))`; a value of ours holds no comma or parenthesis."""
    text = next((str(value) for name, value, *_ in described if name == "Properties"), "")
    return dict(re.findall(r"\(([^(),]+),([^(),]*)\)", text))


def readable_published_database(cur: Any, published: str) -> str:
    """The database a reader who wants one build for every table reads: the build the published views
    point at once a swap is done (`tessera.build`), else the published database itself (its views, or
    the tables of a database Tessera did not publish)."""
    cur.execute("show databases")
    databases = {str(name).lower() for (name, *_) in cur.fetchall()}
    if published.lower() not in databases:
        return published
    cur.execute(f"describe database extended {ident(published)}")
    properties = _properties(cur.fetchall())
    build = properties.get(BUILD_PROPERTY)
    if build and properties.get(SWAP_PROPERTY) == SWAP_DONE and build.lower() in databases:
        return _checked(build)
    return published


class SparkWarehouse(WithoutDemoLoaderTables):
    """Spark through its Thrift server: raw_* databases loaded from the Parquet files; dbt builds into a
    database of its own per build, published as views over it (see the module docstring)."""

    python_steps_outside_dbt = True
    runs_syncs = True
    attaches_database_files = False
    # Every build publishes once its audit passed, through build() and the Dagster job alike: a build
    # records what had landed, and the sensor build_when_data_lands runs.
    publishes = True
    utc_now_sql = "to_utc_timestamp(current_timestamp(), current_timezone())"
    audiences_build_as_a_role = False
    privacy_backend = "orchestration.privacy.backend_spark:SparkErasure"  # not written yet (issue #17)

    def __init__(self, settings: Settings, spark: SparkSettings | None = None):
        self.settings = settings
        self.spark = spark or SparkSettings.from_env()

    def dbt_environment(self) -> dict[str, str]:
        """The build under way's database, for profiles.yml's `schema` (dbt builds there), wherever dbt
        starts: build() and the Dagster job's dbt resource alike. A new build database is a new profile,
        so the first dbt command of each build parses the project in full."""
        with self.cursor() as cur:
            return {BUILD_DATABASE_ENV: self._build_database(cur)}

    def dbt_profile_environment(self) -> dict[str, str]:
        """dbt_environment: the profile names no local file."""
        return self.dbt_environment()

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

    def _views(self, cur: Any, schema: str) -> list[str]:
        cur.execute(f"show views in {ident(schema)}")
        # (namespace, viewName, isTemporary)
        return [row[1] for row in cur.fetchall() if not row[2]]

    def _databases(self, cur: Any) -> set[str]:
        cur.execute("show databases")
        return {name for (name,) in cur.fetchall()}

    def _builds(self, databases: set[str]) -> dict[str, int]:
        """The build databases among `databases` (`<build schema>_<n>`), with their numbers."""
        pattern = re.compile(re.escape(_checked(self.spark.build_schema).lower()) + r"_([0-9]+)")
        found = {name: pattern.fullmatch(name.lower()) for name in databases}
        return {name: int(match.group(1)) for name, match in found.items() if match}

    def _swap_state(self, cur: Any, databases: set[str]) -> tuple[str | None, str | None]:
        """The build the published views point at (or are moving to) and whether the swap is done;
        (None, None) when nothing was ever published."""
        published = _checked(self.spark.published_schema)
        if published not in databases:
            return None, None
        cur.execute(f"describe database extended {ident(published)}")
        properties = _properties(cur.fetchall())
        return properties.get(BUILD_PROPERTY), properties.get(SWAP_PROPERTY)

    def _build_under_way(self, cur: Any) -> str | None:
        """The newest build database newer than the published one; None when no build is under way."""
        databases = self._databases(cur)
        builds = self._builds(databases)
        published, _ = self._swap_state(cur, databases)
        floor = builds.get(published, 0) if published else 0
        newer = [name for name, number in builds.items() if number > floor]
        return max(newer, key=builds.__getitem__) if newer else None

    def _build_database(self, cur: Any) -> str:
        build = self._build_under_way(cur)
        if build is None:
            raise RuntimeError(
                "no Spark build is under way (its database is made by prepare_build; publishing ends it)"
            )
        return build

    def build_database(self) -> str:
        """The database the build under way writes into (`<build schema>_<n>`)."""
        with self.cursor() as cur:
            return self._build_database(cur)

    def published_build(self) -> str | None:
        """The build database the published views point at (None: nothing published yet)."""
        with self.cursor() as cur:
            return self._swap_state(cur, self._databases(cur))[0]

    def _point_views(self, cur: Any, build: str) -> None:
        """Point every published view at `build`, in this order: record the intent; move or create one
        view per table and view of the build (`alter view` replaces a definition in place); drop the views
        of tables the build lacks; record the swap done; drop every other build database, which no view
        references any more. Run again after a crash, it finishes the same swap."""
        published = _checked(self.spark.published_schema)
        cur.execute(f"create database if not exists {ident(published)}")
        views = set(self._views(cur, published))
        relations = self._tables(cur, _checked(build))
        clashing = sorted((set(self._tables(cur, published)) - views) & set(relations))
        if clashing:  # before the intent is recorded: nothing has changed
            raise RuntimeError(f"{published} holds tables that are not Tessera's views: {clashing}")
        cur.execute(
            f"alter database {ident(published)} set dbproperties "
            f"('{BUILD_PROPERTY}' = '{build}', '{SWAP_PROPERTY}' = '{SWAP_MOVING}')"
        )
        for relation in relations:
            verb = "alter" if relation in views else "create"
            cur.execute(
                f"{verb} view {ident(published)}.{ident(relation)} as "
                f"select * from {ident(build)}.{ident(relation)}"
            )
        for gone in sorted(views - set(relations)):
            cur.execute(f"drop view if exists {ident(published)}.{ident(gone)}")
        cur.execute(f"alter database {ident(published)} set dbproperties ('{SWAP_PROPERTY}' = '{SWAP_DONE}')")
        self._drop_builds_but(cur, build)

    def _drop_builds_but(self, cur: Any, keep: str | None) -> None:
        for other in sorted(set(self._builds(self._databases(cur))) - {keep}):
            cur.execute(f"drop database if exists {ident(other)} cascade")

    def _finish_swap(self, cur: Any) -> str | None:
        """Finish a swap a crash interrupted; the published build (None: nothing published)."""
        databases = self._databases(cur)
        build, swap = self._swap_state(cur, databases)
        if build is not None and swap != SWAP_DONE:
            if build not in databases:
                raise RuntimeError(f"the published views were moving to {build}, which no longer exists")
            log.warning("finishing the swap of the published views to %s, which stopped half-way", build)
            self._point_views(cur, build)
        return build

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
        """A new build database, `<build schema>_<n>` numbered after every build database there is,
        holding copies of the published build's tables (not its views, which dbt makes again), so
        carried-forward state continues: incremental models find their rows. A swap a crash interrupted
        is finished first; a build left over from a failed run is dropped."""
        self.settings.audit_path.unlink(missing_ok=True)
        self.settings.landed_path.unlink(missing_ok=True)
        with self.cursor() as cur:
            number = max(self._builds(self._databases(cur)).values(), default=0) + 1
            published = self._finish_swap(cur)
            self._drop_builds_but(cur, published)
            build = f"{_checked(self.spark.build_schema).lower()}_{number}"
            cur.execute(f"create database {ident(build)}")
            if published is not None:
                views = set(self._views(cur, published))
                for table in self._tables(cur, published):
                    if table not in views:
                        cur.execute(
                            f"create table {ident(build)}.{ident(table)} using parquet as "
                            f"select * from {ident(published)}.{ident(table)}"
                        )
        log.info("Spark build database %s, from %s", build, published or "nothing published")

    def ensure_build(self) -> None:
        with self.cursor() as cur:
            under_way = self._build_under_way(cur)
        if under_way is None:
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
            self._ensure_retained(cur, files)
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

    def _ensure_retained(self, cur: Any, files: list[tuple[str, str, Path]]) -> None:
        """The `retained` database with the retention engine's tables, so that staging's `retained`
        sources resolve, as `ensure_tables` makes them on DuckDB and Postgres at every load. Retention
        does not run on Spark (retention_runner raises), so nothing was ever folded into them: they are
        empty, and a load has no enforced cut-off to apply again. Their columns are typed by the
        engine's own statements, run on an in-memory DuckDB over the raw files' columns (no rows), and
        a table that exists is left as it is."""
        from orchestration.retention.config import load_policies

        policies = load_policies()
        local = duckdb.connect()
        try:
            for source, table, path in files:
                if any(p.source == source and p.table == table and not p.schema_name for p in policies):
                    local.execute(f'create schema if not exists "raw_{source}"')
                    local.execute(
                        f'create table "raw_{source}"."{table}" as select * from read_parquet(?) limit 0',
                        [str(path)],
                    )
            ensure_tables(DuckDBRunner(local, RETAINED), policies)
            shapes = {
                name: local.sql(f'select * from "{RETAINED}"."{name}" limit 0').to_arrow_table().schema
                for (name,) in local.execute(
                    "select table_name from information_schema.tables where table_schema = ?", [RETAINED]
                ).fetchall()
            }
        finally:
            local.close()
        cur.execute(f"create database if not exists {ident(RETAINED)}")
        for name, schema in sorted(shapes.items()):
            columns = ", ".join(f"{ident(f.name)} {spark_type(f.type)}" for f in schema)
            cur.execute(
                f"create table if not exists {ident(RETAINED)}.{ident(name)} ({columns}) using parquet"
            )

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
            select += f", cast({self.utc_now_sql} as timestamp) as {LOAD_STAMP}"
        target = f"{ident(schema)}.{ident(table)}"
        cur.execute(f"drop table if exists {target}")
        location = "file://" + str(path.resolve()).replace("`", "")
        cur.execute(f"create table {target} using parquet as select {select} from parquet.`{location}`")
        cur.execute(f"select count(*) from {target}")
        rows = int(cur.fetchone()[0])
        return TableLoad(source, table, rows, added, missing)

    def publish(self) -> None:
        """Point the published views at the build under way once its audit passed, then drop the build
        databases no view references (the module docstring says what readers observe). With no build
        under way, a swap a crash interrupted is finished (the audit is still the one it published)."""
        passed_audit(self.settings.audit_path)
        with self.cursor() as cur:
            build = self._build_under_way(cur)
            if build is None:
                build = self._finish_swap(cur)
                if build is None:
                    raise RuntimeError("nothing to publish: no Spark build is under way")
            else:  # moves every view, those of a swap left half-way too
                self._point_views(cur, build)
        keep_audit(self.settings)
        log.info("published %s as views in %s", build, self.spark.published_schema)

    def query_published(self, sql: str) -> list[tuple]:
        with self.cursor() as cur:
            cur.execute(f"use {ident(_checked(self.spark.published_schema))}")
            cur.execute(sql)
            return list(cur.fetchall())

    def raw_tables(self) -> list[tuple[str, str, str]]:
        """The tables of the raw_* databases (loads write them there, beside the build databases)."""
        with self.cursor() as cur:
            schemas = sorted(name for name in self._databases(cur) if name.startswith("raw_"))
            return [
                (schema, table, f"{ident(schema)}.{ident(table)}")
                for schema in schemas
                for table in sorted(self._tables(cur, schema))
                if not table.endswith("__loading")
            ]

    def describe_published(self) -> str:
        return (
            f"spark thrift://{self.spark.host}:{self.spark.port} database {self.spark.published_schema} "
            f"(views over the published build's database)"
        )

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
        """A build table as Arrow, fetched through the Thrift server: read_build_table_batches, read to
        the end."""
        return self.read_build_table_batches(table, columns).read_all()

    def write_build_table(self, table: str, rows: pa.Table) -> None:
        """Replace <build>.<table> with `rows`: landed as Parquet where the workers read it, then loaded."""
        landing = self.spark.landing_dir / "written"
        landing.mkdir(parents=True, exist_ok=True)
        path = landing / f"{_checked(table)}.parquet"
        pq.write_table(rows, path)
        with self.cursor() as cur:
            target = f"{ident(self._build_database(cur))}.{ident(table)}"
            cur.execute(f"drop table if exists {target}")
            if rows.num_rows:
                cur.execute(
                    f"create table {target} using parquet as select * from parquet.`file://{path.resolve()}`"
                )
            else:  # an empty file has no row group to infer from: declare the columns
                ddl = ", ".join(f"{ident(f.name)} {spark_type(f.type)}" for f in rows.schema)
                cur.execute(f"create table {target} ({ddl}) using parquet")

    def drop_build_table(self, table: str) -> None:
        with self.cursor() as cur:
            cur.execute(f"drop table if exists {ident(self._build_database(cur))}.{ident(table)}")

    def sync_location(self) -> SyncLocation:
        """The published build, read through the Thrift server; state and history in the database
        `<published>_sync`, which publishes never drop (they drop only build databases). See
        orchestration/sync/stores/spark.py and docs/spark.md, "Syncs on Spark"."""
        published = _checked(self.spark.published_schema)
        return SyncLocation(
            store="spark",
            published=published,
            state=f"{published}_sync",
            history=None,
            connect={"host": self.spark.host, "port": self.spark.port, "username": self.spark.user},
        )

    def retention_runner(self, *, build: bool) -> contextlib.AbstractContextManager[Runner]:
        raise NotImplementedError(f"retention is {ISSUE}")

    def scratch(self) -> contextlib.AbstractContextManager[Settings]:
        raise NotImplementedError(f"scratch (what-if) builds are {ISSUE}")

    # -- record batches for the Python steps (issue #16, out of core) -------------------------------

    def read_build_table_batches(
        self, table: str, columns: list[str] | None = None, batch_rows: int = BATCH_ROWS
    ) -> pa.RecordBatchReader:
        """read_build_table as a stream: the rows come through the Thrift server `batch_rows` at a
        time (fetchmany), each batch typed as read_build_table types the table; the connection stays
        open until the stream is read."""
        stack = contextlib.ExitStack()
        try:
            cur = stack.enter_context(self.cursor())
            schema = self._build_database(cur)
            declared = self._columns(cur, schema, table)
            wanted = wanted_columns(f"{schema}.{table}", declared, columns)
            cur.execute(f"select {', '.join(ident(c) for c in wanted)} from {ident(schema)}.{ident(table)}")

            def fetched() -> pa.RecordBatch | None:
                rows = cur.fetchmany(batch_rows)
                if not rows:
                    return None
                return pa.RecordBatch.from_pydict(
                    {
                        name: arrow_column([row[i] for row in rows], declared[name])
                        for i, name in enumerate(wanted)
                    }
                )

            first = fetched()
        except BaseException:
            stack.close()
            raise
        # A type arrow_column leaves to Arrow (arrays, maps) is the one the first batch shows.
        fields = (
            first.schema
            if first is not None
            else pa.schema([(name, arrow_column([], declared[name]).type) for name in wanted])
        )

        def batches() -> Iterator[pa.RecordBatch]:
            try:
                batch = first
                while batch is not None:
                    yield batch if batch.schema == fields else batch.cast(fields)
                    batch = fetched()
            finally:
                stack.close()

        return pa.RecordBatchReader.from_batches(fields, batches())

    def write_build_table_batches(self, table: str, rows: pa.RecordBatchReader) -> int:
        """write_build_table for a stream: landed as Parquet a batch at a time where the workers read
        it, then loaded."""
        landing = self.spark.landing_dir / "written"
        landing.mkdir(parents=True, exist_ok=True)
        path = landing / f"{_checked(table)}.parquet"
        count = write_parquet(rows, path)
        with self.cursor() as cur:
            target = f"{ident(self._build_database(cur))}.{ident(table)}"
            cur.execute(f"drop table if exists {target}")
            if count:
                cur.execute(
                    f"create table {target} using parquet as select * from parquet.`file://{path.resolve()}`"
                )
            else:  # an empty file has no row group to infer from: declare the columns
                ddl = ", ".join(f"{ident(f.name)} {spark_type(f.type)}" for f in rows.schema)
                cur.execute(f"create table {target} ({ddl}) using parquet")
        return count
