"""What every warehouse implements. Code outside `orchestration/warehouse/` talks to this, never to a
target name: a third warehouse is a new module here, not new branches elsewhere."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import pyarrow as pa

from orchestration.retention.engine import Runner
from orchestration.settings import Settings
from orchestration.warehouse.batches import BATCH_ROWS
from orchestration.warehouse.load import TableLoad


@dataclass(frozen=True)
class SyncLocation:
    """Where the sync engine reads a published build and keeps its own state, beside this warehouse.

    `store` names the sync store that works here (a module of orchestration/sync/stores/, chosen by
    orchestration/sync/stores/__init__.py's registry); the other fields mean what that store says:
    DuckDB: `published` and `state` are files, `history` the analysts' read-only copy of the state;
    Postgres: `published` and `state` are schemas of the database `connect` reaches, `history` is None
    (analysts read the state schema itself)."""

    store: str
    published: str
    state: str
    history: str | None = None
    # Connection arguments (a password among them): never logged, never in a repr.
    connect: Mapping[str, Any] = field(default_factory=dict, repr=False)


class Warehouse(Protocol):
    """A warehouse Tessera builds into and publishes from (write-audit-publish)."""

    # True where dbt runs no Python models: the Python steps (matching, scoring) then run between dbt
    # invocations, reading and writing build tables through this interface.
    python_steps_outside_dbt: bool
    # True where the sync engine can read the published data and keep its state.
    runs_syncs: bool
    # True where analyst audience SQL builds in a dbt invocation of its own, logged in as a restricted
    # role (Postgres: orchestration/build/audience_sandbox.py); elsewhere it builds in the one build,
    # locked down in process (DuckDB: external access off).
    audiences_build_as_a_role: bool
    # The privacy backend (erasure, access export, suppression) for this warehouse, as "module:Class":
    # privacy resolves it (orchestration/privacy/backend.py), so neither package imports the other's
    # implementations.
    privacy_backend: str
    # True where `tessera demo` can write the demo's systems as the loaders' tables into the published
    # warehouse (write_demo_loader_tables); elsewhere the demo keeps the raw contract's files.
    writes_demo_loader_tables: bool
    # True where a loader's own database file can be attached to the build and read in place
    # (sources/presets.yml `databases:`; DuckDB). Elsewhere a database is the server's own.
    attaches_database_files: bool
    # True where a build that passed its audit is published (write-audit-publish): then a build records
    # what had landed, and the sensor build_when_data_lands runs (orchestration/build/landing.py).
    publishes: bool
    # SQL for now in UTC, as a timestamp without a zone: the clock staging's event times are on (the dbt
    # macro tessera.utc_now says the same in the models). Python's own queries of the published
    # warehouse compare with this, never with a dialect's spelling of it.
    utc_now_sql: str

    def prepare_build(self) -> None:
        """Start a build from the published state (carried-forward state continues)."""

    def dbt_profile_environment(self) -> dict[str, str]:
        """Environment variables that profiles.yml reads when the build starts dbt in the build folder
        (orchestration/build/pipeline.py): paths there are given relative to it, because dbt keys its
        partial parse on the profile's connection settings, and so one warehouse's parse fits another's."""

    def dbt_environment(self) -> dict[str, str]:
        """Environment variables that profiles.yml reads to reach the build under way, wherever dbt starts:
        Dagster's dbt resource starts dbt in the project folder with the Dagster process's environment
        and these (orchestration/build/assets/dbt.py). No path relative to the build folder, unlike
        dbt_profile_environment; empty where the environment already names the build (DuckDB's absolute
        TESSERA_BUILD_DB, Postgres's build schema)."""

    def ensure_build(self) -> None:
        """Prepare a build unless one is under way."""

    def load_raw(self, raw_dir: Path) -> list[TableLoad]:
        """Load the declared person sources and every raw file into the build."""

    def demo_loader_database(self) -> tuple[str, Path] | None:
        """The loader database file the demo writes its loader tables into (its name under sources/presets.yml
        `databases:`, and its path), or None where they go into the warehouse itself."""

    def write_demo_loader_tables(
        self, raw_dir: Path, systems: list[str] | None = None
    ) -> dict[str, dict[str, int]]:
        """Write the demo's raw files of raw_dir as the loaders' tables, where builds read them in place
        (demo_loader_database; orchestration/generate/loader_shapes.py says which); {system:
        {"schema.table": rows}} for those written."""

    def demo_loader_tables_present(self, tables: list[tuple[str, str]]) -> bool:
        """Whether every (schema, table) of `tables` that the demo wrote is where it wrote them."""

    def drop_demo_loader_tables(self) -> None:
        """Drop the demo's loader tables, if any (a demo in the raw contract's shape)."""

    def restamp_demo_loader_tables(self) -> None:
        """Move the demo's loader tables' load times to end now, as a loader's next sync would."""

    def publish(self) -> None:
        """Make the audited build what readers see; refuse when its audit did not pass."""

    def query_published(self, sql: str) -> list[tuple]: ...

    def raw_tables(self) -> list[tuple[str, str, str]]:
        """The published raw tables, in order: (schema `raw_<source>`, table, the relation as this
        warehouse's SQL names it), for the run's summary (orchestration/build/reporting.py)."""

    def describe_published(self) -> str:
        """Where the published data is, for a person to read."""

    def how_to_query(self) -> list[str]:
        """Lines telling a person how to query the published data (may be empty)."""

    def published_columns(self, schema: str, table: str) -> list[str] | None:
        """A published table's column names; None when nothing is published yet."""

    def read_build_table(self, table: str, columns: list[str] | None = None) -> pa.Table: ...

    def read_build_table_batches(
        self, table: str, columns: list[str] | None = None, batch_rows: int = BATCH_ROWS
    ) -> pa.RecordBatchReader:
        """A build table as a stream of record batches of at most `batch_rows` rows, typed as
        read_build_table types it: a Python step holds one batch at a time, never the table."""

    def write_build_table(self, table: str, rows: pa.Table) -> None: ...

    def write_build_table_batches(self, table: str, rows: pa.RecordBatchReader) -> int:
        """Replace a build table with the stream `rows`, read a batch at a time (it may read from
        another build table, through read_build_table_batches); the number of rows written."""

    def drop_build_table(self, table: str) -> None: ...

    def sync_location(self) -> SyncLocation:
        """Where the sync engine reads the published data and keeps its state and history."""

    def retention_runner(self, *, build: bool) -> AbstractContextManager[Runner]:
        """The build (build=True) or the published data as a retention Runner."""

    def scratch(self) -> AbstractContextManager[Settings]:
        """Settings for a throwaway build that starts from the published state and that no reader
        sees (a what-if): it builds like any build, is never published, and is removed on exit."""


class WithoutDemoLoaderTables:
    """For a warehouse the demo writes no loader tables into: `tessera demo` keeps the raw contract there."""

    writes_demo_loader_tables = False

    def demo_loader_database(self) -> None:
        return None

    def write_demo_loader_tables(
        self, raw_dir: Path, systems: list[str] | None = None
    ) -> dict[str, dict[str, int]]:
        raise NotImplementedError("the demo's loader tables are not written into this warehouse")

    def demo_loader_tables_present(self, tables: list[tuple[str, str]]) -> bool:
        return False

    def drop_demo_loader_tables(self) -> None:
        """Nothing to drop: the demo writes no loader tables here."""

    def restamp_demo_loader_tables(self) -> None:
        raise NotImplementedError("the demo's loader tables are not written into this warehouse")


def information_schema_raw_tables(
    query_published: Callable[[str], list[tuple]],
) -> list[tuple[str, str, str]]:
    """Warehouse.raw_tables where information_schema lists the published tables (DuckDB, Postgres)."""
    rows = query_published(
        "select table_schema, table_name from information_schema.tables "
        "where table_schema like 'raw\\_%' escape '\\' "
        "and table_name not like '%\\_\\_loading' escape '\\' order by 1, 2"
    )
    return [(str(schema), str(table), f'"{schema}"."{table}"') for schema, table in rows]
