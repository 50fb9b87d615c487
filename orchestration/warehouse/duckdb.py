"""The embedded default: DuckDB files. dbt builds into a copy of the published file, which replaces the
published file (an atomic rename) only when every gating test passed.

DuckDB allows one writer, and an idle read-only connection blocks a writer. So dbt never builds into the
file analysts and syncs read."""

from __future__ import annotations

import contextlib
import dataclasses
import logging
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq

from orchestration.person_sources.load import duckdb_digest
from orchestration.person_sources.load import load_duckdb as load_person_sources_duckdb
from orchestration.privacy.files import compact_duckdb
from orchestration.privacy.masking import refresh_masked_file
from orchestration.retention.engine import DuckDBRunner, retain_after_load
from orchestration.settings import Settings
from orchestration.warehouse.audit import keep_audit, passed_audit
from orchestration.warehouse.batches import BATCH_ROWS, closing_reader, spooled_parquet
from orchestration.warehouse.connection import open_file, open_read_only, writer_lock
from orchestration.warehouse.files import written_aside
from orchestration.warehouse.interface import SyncLocation, information_schema_raw_tables
from orchestration.warehouse.load import (
    TableLoad,
    drift,
    is_stand_in,
    keep_earlier_load,
    person_source_loads,
    quoted,
    raw_files,
)
from orchestration.warehouse.raw_contract import LOAD_STAMP, check_raw_files, optional_missing, raw_contract

log = logging.getLogger(__name__)

#: The name `tessera demo` declares its loader file by (sources/presets.yml `databases:`).
DEMO_LOADER_DATABASE = "demo_loaders"


def stamped_rows(incoming: str, table: str, file_types: dict[str, str], previous: dict[str, str]) -> str:
    """The select that loads a raw file's rows (`incoming`, over the file's columns `file_types`) into
    `table`, each with its load time: a row whose content the table already held keeps the earliest time
    that content was loaded, every other row gets this load's time. A file is a whole snapshot of its
    system, so without this every row would look new at every load, and the incremental staging and marts
    would place every row again.

    Contents are compared by a hash of every column of the file (a column the table lacked counts as null
    there, one whose type changed is cast to the file's). Grouped, not numbered copy by copy: a further
    identical copy of a row keeps the first copy's time (it adds nothing an incremental model could
    place), and the load stays a hash join (numbering the copies tripled its cost). A changed row whose
    hash met an earlier row's (64 bits) would keep that row's time: a chance of about one in 10^8 at
    10^7 rows per table and per load. With no earlier table (`previous` empty) every row is new."""
    now = "cast(current_timestamp as timestamp)"
    if not previous or LOAD_STAMP not in previous or not file_types:
        return f"select *, {now} as {LOAD_STAMP} from ({incoming}) as incoming"

    def earlier(column: str, file_type: str) -> str:
        if column not in previous:
            return f"cast(null as {file_type})"
        if previous[column] != file_type:
            return f"try_cast({quoted(column)} as {file_type})"
        return quoted(column)

    row = duckdb_digest([quoted(c) for c in file_types])
    earlier_row = duckdb_digest([earlier(c, t) for c, t in file_types.items()])
    return (
        f"with incoming as (select *, {row} as _tessera_row from ({incoming}) as incoming), "
        f"earlier as (select {earlier_row} as _tessera_row, min({LOAD_STAMP}) as _tessera_loaded_at "
        f"from {table} group by _tessera_row) "
        f"select incoming.* exclude (_tessera_row), coalesce(earlier._tessera_loaded_at, {now}) as {LOAD_STAMP} "
        "from incoming left join earlier on incoming._tessera_row = earlier._tessera_row"
    )


class DuckDBWarehouse:
    """The embedded default: a build file, promoted to the published file by a rename."""

    python_steps_outside_dbt = False
    runs_syncs = True
    attaches_database_files = True
    publishes = True
    utc_now_sql = "timezone('UTC', current_timestamp)"
    audiences_build_as_a_role = False
    privacy_backend = "orchestration.privacy.backend_duckdb:DuckDBErasure"
    writes_demo_loader_tables = True

    def __init__(self, settings: Settings):
        self.settings = settings

    @property
    def build_db(self) -> Path:
        return self.settings.build_db

    def dbt_profile_environment(self) -> dict[str, str]:
        """The build file, and its spill folder when beside it, by name: every world's profile is then
        the same (its memory limit aside). Python models still read the absolute paths (Settings)."""
        folder, spill = self.build_db.parent, self.settings.duckdb_spill_dir
        return {
            "TESSERA_DBT_DUCKDB_PATH": self.build_db.name,
            "TESSERA_DBT_DUCKDB_TEMP_DIR": spill.name if spill.parent == folder else str(spill),
        }

    @property
    def published_db(self) -> Path:
        return self.settings.published_db

    def prepare_build(self) -> None:
        """Start the build database from the last published state, so carried-forward state
        (stable ids, sync history) continues. A left-over build from a failed run is discarded. The spill
        folder's parent is made too: DuckDB makes only the folder itself when it first spills."""
        self.build_db.parent.mkdir(parents=True, exist_ok=True)
        self.settings.duckdb_spill_dir.parent.mkdir(parents=True, exist_ok=True)
        for stale in (
            self.build_db,
            self.build_db.with_name(self.build_db.name + ".wal"),
            self.settings.audit_path,
            self.settings.landed_path,
        ):
            stale.unlink(missing_ok=True)
        if self.published_db.exists():
            shutil.copyfile(self.published_db, self.build_db)
            log.info("build database starts from the published copy %s", self.published_db)
        else:
            # A first build starts from an empty file, as a Postgres build starts from an empty schema: the
            # build is prepared, and what it has recorded so far (what had landed) is not discarded again
            # by ensure_build.
            duckdb.connect(str(self.build_db)).close()

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
        """Replace each raw_<source>.<table> with its file. A file that lacks a column staging requires
        stops the load before any table changes (RawContractError, orchestration/warehouse/raw_contract.py).
        Any other column the table had, or an optional declared one, the file lacks is kept as null and
        reported; a new column is kept and reported."""
        files = raw_files(raw_dir)
        contracts = raw_contract()
        check_raw_files(files, contracts)
        self.ensure_build()
        loads = []
        con = open_file(self.build_db)
        try:
            # Declared person sources are checked (and loaded) first: a wrong declaration stops
            # the load before any table changes.
            counts = load_person_sources_duckdb(con, self.settings)
            external = con.execute("select count(*) from raw_person_sources.external_ids").fetchone()[0]  # type: ignore[index]
            loads += person_source_loads(counts, external)
            for source, table, path in files:
                schema = f"raw_{source}"
                con.execute(f'create schema if not exists "{schema}"')
                previous = self._columns(con, schema, table)
                if previous and is_stand_in(path):
                    kept = con.execute(f'select count(*) from "{schema}"."{table}"').fetchone()[0]  # type: ignore[index]
                    loads.append(keep_earlier_load(source, table, kept))
                    continue
                incoming = pq.read_schema(path).names
                added, missing = drift(previous, incoming) if previous else ([], [])
                # The load time is stamped here (a file's own _loaded_at is overridden): a row loaded before
                # keeps its earlier time (stamped_rows).
                missing = [c for c in missing if c != LOAD_STAMP]
                exclude = " exclude (_loaded_at)" if LOAD_STAMP in incoming else ""
                types = {c: previous.get(c, "varchar") for c in missing}
                for column in optional_missing(source, table, incoming, contracts):
                    if column not in types:
                        missing.append(column)
                        types[column] = "varchar"
                fill = "".join(f", cast(null as {types[c]}) as {quoted(c)}" for c in missing)
                file_types = {
                    row[0]: row[1]
                    for row in con.execute("describe select * from read_parquet(?)", [str(path)]).fetchall()
                }
                file_types.pop(LOAD_STAMP, None)
                incoming_rows = f"select *{exclude}{fill} from read_parquet(?)"
                con.execute(
                    f'create or replace table "{schema}"."{table}" as '
                    + stamped_rows(incoming_rows, f'"{schema}"."{table}"', file_types, previous),
                    [str(path)],
                )
                rows = con.execute(f'select count(*) from "{schema}"."{table}"').fetchone()[0]  # type: ignore[index]
                loads.append(TableLoad(source, table, rows, added, missing))
                if added or missing:
                    log.warning("schema drift in %s.%s: new %s, missing %s", source, table, added, missing)
            record_schema_changes(con, loads)
            # Retention: rows past the last enforced cut-off do not come back with the reload.
            retain_after_load(DuckDBRunner(con))
            con.execute("checkpoint warehouse")
        finally:
            con.close()
        return loads

    def publish(self) -> None:
        passed_audit(self.settings.audit_path)
        con = open_file(self.build_db)
        con.execute("checkpoint warehouse")
        con.execute("use memory")
        con.execute("detach warehouse")
        con.close()
        self.published_db.parent.mkdir(parents=True, exist_ok=True)
        # A rename is atomic: a new reader sees the old file or the new one, never a mix; a reader
        # holding the old file keeps its snapshot until it reconnects.
        os.replace(self.build_db, self.published_db)
        keep_audit(self.settings)
        log.info("published %s", self.published_db)
        # The analysts' masked file follows every publish (builds, erasures, retention), if there is one.
        refresh_masked_file(self.settings)

    def query_published(self, sql: str) -> list[tuple]:
        con = open_read_only(self.published_db)
        try:
            return con.execute(sql).fetchall()
        finally:
            con.close()

    def raw_tables(self) -> list[tuple[str, str, str]]:
        return information_schema_raw_tables(self.query_published)

    def dbt_environment(self) -> dict[str, str]:
        """Nothing: TESSERA_BUILD_DB names the build file by its absolute path (use_dbt_environment)."""
        return {}

    def describe_published(self) -> str:
        return str(self.published_db)

    def how_to_query(self) -> list[str]:
        return [
            "Query it read-only at any time, even during a build:",
            f"  .venv/bin/python -c \"import duckdb; print(duckdb.connect('{self.published_db}', "
            "read_only=True).sql('select * from customers limit 5'))\"",
            "  .venv/bin/tessera profile email:<an email from customers>   # one customer's 360° view",
        ]

    def demo_loader_database(self) -> tuple[str, Path]:
        """A DuckDB file of the loaders' own beside the data (sources/presets.yml `databases:`), as dlt's
        duckdb destination or a handed-over export would leave one: builds attach it read-only and read
        the loaders' tables in place, so no build copies them (the build starts as a copy of the published
        file) and the published file holds only what the build made of them."""
        return DEMO_LOADER_DATABASE, self.settings.data_dir / "loaders" / f"{DEMO_LOADER_DATABASE}.duckdb"

    def write_demo_loader_tables(
        self, raw_dir: Path, systems: list[str] | None = None
    ) -> dict[str, dict[str, int]]:
        """Into a new loader file (demo_loader_database) holding the systems written, renamed over the old one
        (no free block keeps an earlier demo's rows), under the writer lock (a `tessera run` waits for it; a
        Dagster run holds it only while it loads and publishes). Flushed to disk before the rename: the raw
        files are removed next, and the file is then the demo's only copy. The published file then loses its
        raw contract copies of those systems, and the loader schemas an earlier version wrote into it."""
        from orchestration.generate.loader_shapes import loader_schemas, raw_contract_tables
        from orchestration.warehouse.demo_loader_tables import write_loader_shapes

        _, path = self.demo_loader_database()
        with writer_lock(self.settings), written_aside(path, durable=True) as aside:
            con = open_file(aside)
            try:
                written = write_loader_shapes(raw_dir, con, systems)
                con.execute("checkpoint warehouse")
            finally:
                con.close()
            # A log left beside the old file (a killed restamp or erase) would be replayed into the new one.
            path.with_name(f"{path.name}.wal").unlink(missing_ok=True)
        copies = [table for system in written for table in raw_contract_tables(system)]
        self._remove_from_published(copies, loader_schemas())
        return written

    def _remove_from_published(self, tables: list[tuple[str, str]], schemas: list[str]) -> None:
        """Drop those of `tables` and `schemas` the published file holds, then compact it, so their rows do
        not stay in its free blocks. It is opened for writing only when it holds one: an analyst's read-only
        connection does not stop a demo that has nothing to remove."""
        if not self.published_db.exists():
            return
        held = _tables_in(self.published_db)
        dropped = [table for table in tables if table in held]
        schemas = [schema for schema in schemas if any(held_schema == schema for held_schema, _ in held)]
        if not dropped and not schemas:
            return
        with writer_lock(self.settings):
            con = open_file(self.published_db)
            try:
                for schema, table in dropped:
                    con.execute(f'drop table if exists "{schema}"."{table}"')
                for schema in schemas:
                    con.execute(f'drop schema if exists "{schema}" cascade')
                con.execute("checkpoint warehouse")
            finally:
                con.close()
            compact_duckdb(self.published_db)

    def drop_demo_loader_tables(self) -> None:
        """The loader file, and any loader schema an earlier version wrote into the published file."""
        from orchestration.generate.loader_shapes import loader_schemas

        _, path = self.demo_loader_database()
        with writer_lock(self.settings):
            for file in (path, path.with_name(f"{path.name}.wal")):
                file.unlink(missing_ok=True)
        self._remove_from_published([], loader_schemas())

    def restamp_demo_loader_tables(self) -> None:
        """Best effort: another process holding the loader file (a query, a build reading it) leaves the
        times as they were, and the run goes on; source freshness then says how old they are."""
        from orchestration.warehouse.demo_loader_tables import restamp_loader_shapes

        _, path = self.demo_loader_database()
        if not path.exists():
            return
        try:
            with writer_lock(self.settings):
                con = open_file(path)
                try:
                    restamp_loader_shapes(con)
                    con.execute("checkpoint warehouse")
                finally:
                    con.close()
        except duckdb.IOException as exc:
            log.warning("the demo's loader tables keep their load times: their file is in use (%s)", exc)

    def demo_loader_tables_present(self, tables: list[tuple[str, str]]) -> bool:
        """Whether the loader file holds every (schema, table) of `tables`."""
        _, path = self.demo_loader_database()
        if not path.exists():
            return False
        try:
            found = _tables_in(path)
        except duckdb.IOException as exc:
            # Held by a writer (a loader, a restamp): it is there. Not a DuckDB file, or one it cannot
            # open: the demo writes it again.
            return "lock" in str(exc).lower()
        return all(table in found for table in tables)

    def published_columns(self, schema: str, table: str) -> list[str] | None:
        if not self.published_db.exists():
            return None
        con = open_read_only(self.published_db)
        try:
            return [
                name
                for (name,) in con.execute(
                    "select column_name from information_schema.columns where table_catalog = current_database() "
                    "and table_schema = ? and table_name = ? order by ordinal_position",
                    [schema, table],
                ).fetchall()
            ]
        finally:
            con.close()

    def read_build_table(self, table: str, columns: list[str] | None = None) -> pa.Table:
        names = "*" if columns is None else ", ".join(f'"{name}"' for name in columns)
        con = open_read_only(self.build_db)
        try:
            return con.sql(f'select {names} from "{table}"').to_arrow_table()
        finally:
            con.close()

    def read_build_table_batches(
        self, table: str, columns: list[str] | None = None, batch_rows: int = BATCH_ROWS
    ) -> pa.RecordBatchReader:
        names = "*" if columns is None else ", ".join(f'"{name}"' for name in columns)
        con = open_read_only(self.build_db)
        try:
            reader = con.sql(f'select {names} from "{table}"').to_arrow_reader(batch_rows)
        except BaseException:
            con.close()
            raise
        return closing_reader(reader, con.close)

    def write_build_table_batches(self, table: str, rows: pa.RecordBatchReader) -> int:
        """Spooled to Parquet first: the stream may read this build file, which one process cannot
        hold open read-only and for writing at once."""
        with spooled_parquet(rows) as (path, count):
            con = open_file(self.build_db)
            try:
                source = str(path).replace("'", "''")
                con.execute(f"create or replace table \"{table}\" as select * from read_parquet('{source}')")
                con.execute("checkpoint warehouse")
            finally:
                con.close()
        return count

    def write_build_table(self, table: str, rows: pa.Table) -> None:
        con = open_file(self.build_db)
        try:
            con.register("written_rows", rows)
            con.execute(f'create or replace table "{table}" as select * from written_rows')
            con.execute("checkpoint warehouse")
        finally:
            con.close()

    def drop_build_table(self, table: str) -> None:
        con = open_file(self.build_db)
        try:
            con.execute(f'drop table if exists "{table}"')
        finally:
            con.close()

    def sync_location(self) -> SyncLocation:
        """The published file, read read-only; state in a DuckDB file of its own beside it (DuckDB has one
        writer, and analysts read the published file), copied for analysts to sync_history.duckdb."""
        folder = self.published_db.parent
        return SyncLocation(
            store="duckdb",
            published=str(self.published_db),
            state=str(folder / "sync_state.duckdb"),
            history=str(folder / "sync_history.duckdb"),
        )

    @contextlib.contextmanager
    def retention_runner(self, *, build: bool) -> Iterator[DuckDBRunner]:
        if build:
            con = open_file(self.build_db)
        else:
            if not self.published_db.exists():
                raise FileNotFoundError(
                    f"nothing is published yet at {self.published_db}: run the build first"
                )
            con = open_read_only(self.published_db)
        try:
            yield DuckDBRunner(con)
            if build:
                con.execute("checkpoint warehouse")
        finally:
            con.close()

    @contextlib.contextmanager
    def scratch(self) -> Iterator[Settings]:
        """A copy of the published file in a temporary folder, with its own (absent) published path,
        lock and audit: nothing done through these settings can reach the published file."""
        if not self.published_db.exists():
            raise FileNotFoundError(f"nothing is published yet at {self.published_db}: run the build first")
        folder = Path(tempfile.mkdtemp(prefix="tessera-scratch-", dir=self.build_db.parent.parent))
        try:
            scratch = dataclasses.replace(
                self.settings,
                build_db=folder / "build" / "scratch.duckdb",
                published_db=folder / "never_published.duckdb",
                masked_file=folder / "never_published_masked.duckdb",
            )
            scratch.build_db.parent.mkdir(parents=True)
            shutil.copyfile(self.published_db, scratch.build_db)
            yield scratch
        finally:
            shutil.rmtree(folder, ignore_errors=True)


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
        f"values (?, ?, ?, ?, cast({DuckDBWarehouse.utc_now_sql} as timestamp))",
        [[load.source, load.table, ", ".join(added), ", ".join(missing)] for load, added, missing in changed],
    )


def _tables_in(path: Path) -> set[tuple[str, str]]:
    """(schema, table) of every table in the DuckDB file at `path`, opened read-only."""
    con = open_read_only(path)
    try:
        return set(
            con.execute(
                "select table_schema, table_name from information_schema.tables "
                "where table_catalog = current_database()"
            ).fetchall()
        )
    finally:
        con.close()
