"""Fixtures for the sync engine tests: where the sync reads and keeps state (a DuckDB warehouse file and
state file, or a Postgres published schema and its `_sync` schema), a fake clock, a webhook receiver."""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import psycopg2
import pytest

from orchestration.warehouse.interface import SyncLocation
from tests.conftest import TEST_PG_DATABASE, require_postgres
from tests.sync.fakes import WebhookFake
from tests.sync.helpers import WEBHOOK_SECRET, FakeClock


@dataclass
class Paths:
    """For DuckDB, two files; for Postgres, both fields are the same SyncLocation (the published schema
    and the state schema), which run_sync and the helpers take in place of the files."""

    warehouse: Path | SyncLocation
    state: Path | SyncLocation

    @property
    def store(self) -> str:
        return self.warehouse.store if isinstance(self.warehouse, SyncLocation) else "duckdb"


def duckdb_paths_in(tmp_path: Path) -> Paths:
    return Paths(warehouse=tmp_path / "warehouse.duckdb", state=tmp_path / "sync_state.duckdb")


@contextlib.contextmanager
def postgres_location() -> Iterator[SyncLocation]:
    """A published schema of its own (and its state schema), dropped afterwards."""
    require_postgres()
    published = f"tessera_synctest_{uuid.uuid4().hex[:10]}"
    location = SyncLocation(
        store="postgres",
        published=published,
        state=f"{published}_sync",
        connect={"host": "127.0.0.1", "port": 5432, "user": "postgres", "dbname": TEST_PG_DATABASE},
    )
    try:
        yield location
    finally:
        conn = psycopg2.connect(**location.connect)
        conn.autocommit = True
        try:
            with conn.cursor() as cur:
                cur.execute(f'drop schema if exists "{location.published}" cascade')
                cur.execute(f'drop schema if exists "{location.state}" cascade')
        finally:
            conn.close()


@pytest.fixture(params=["duckdb", pytest.param("postgres", marks=pytest.mark.postgres)])
def paths(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Paths]:
    """Every test that takes `paths` runs with a DuckDB source and state, and with a Postgres one."""
    if request.param == "duckdb":
        yield duckdb_paths_in(tmp_path)
        return
    with postgres_location() as location:
        yield Paths(warehouse=location, state=location)


@pytest.fixture
def duckdb_paths(tmp_path: Path) -> Paths:
    """For tests of the DuckDB store itself (its files, locks and copies)."""
    return duckdb_paths_in(tmp_path)


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def webhook() -> Iterator[WebhookFake]:
    fake = WebhookFake(WEBHOOK_SECRET)
    fake.start()
    try:
        yield fake
    finally:
        fake.stop()
