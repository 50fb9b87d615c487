"""Tiny hand-made raw worlds for identity scenarios: every raw table exists, most of them empty."""

from __future__ import annotations

import contextlib
import datetime as dt
import fcntl
import os
import shutil
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from orchestration.build.pipeline import build
from orchestration.generate import SCHEMAS
from orchestration.settings import Settings
from tests.conftest import TEST_PG_DATABASE

LOADED_AT = dt.datetime(2026, 11, 1)

# What an identity scenario reads, and everything upstream of it: a build narrowed to it (build(select=...))
# runs the same prepare, load, dbt build, audit and publish, with about half the models and tests.
IDENTITY_LAYER = [
    "+customers",
    "+customer_identifiers",
    "+customer_source_records",
    "+customer_id_history",
    "+identity_guard_audit",
    "+identity_links",
    "+identity_unresolved_records",
]

# dbt's own setting (`--exclude-resource-type`): what a build inside `dbt_unit_tests_run_once()` leaves out.
SKIP_UNIT_TESTS = {"DBT_EXCLUDE_RESOURCE_TYPES": "unit_test"}


@contextlib.contextmanager
def dbt_unit_tests_run_once() -> Iterator[None]:
    """dbt builds inside leave out the project's dbt unit tests. They read no data (their inputs are
    given in the YAML), so on a world whose dbt configuration (target, vars, presets, person sources,
    audiences) is the project's default they would repeat exactly what the main world of that
    warehouse ran: the session's published DuckDB world (tests/conftest.py, the Dagster job a user
    runs) and the Postgres demo (tests/test_postgres.py), which keep them. Worlds with another
    configuration keep them too."""
    with pytest.MonkeyPatch.context() as monkeypatch:
        for name, value in SKIP_UNIT_TESTS.items():
            monkeypatch.setenv(name, value)
        yield


def write_world(data_dir: Path, rows: dict[str, list[dict[str, Any]]]) -> None:
    """Write every raw table of the contract; tables not in `rows` are empty. Missing columns are null."""
    for name, schema in SCHEMAS.items():
        source, table = name.split(".")
        if source == "truth":
            continue
        path = data_dir / "raw" / source / f"{table}.parquet"
        path.parent.mkdir(parents=True, exist_ok=True)
        records = [
            {
                field.name: row.get(field.name, LOADED_AT if field.name == "_loaded_at" else None)
                for field in schema
            }
            for row in rows.get(name, [])
        ]
        pq.write_table(pa.Table.from_pylist(records, schema=schema), path)


def world_settings(root: Path, target: str = "duckdb", pg_schema: str = "tessera_it") -> Settings:
    return Settings.from_env(
        {
            **os.environ,
            "TESSERA_TARGET": target,
            "TESSERA_DATA_DIR": str(root / "data"),
            "TESSERA_WAREHOUSE": str(root / "warehouse" / "tessera.duckdb"),
            "TESSERA_BUILD_DB": str(root / "warehouse" / "build" / "tessera.duckdb"),
            "TESSERA_PG_DATABASE": TEST_PG_DATABASE,
            "TESSERA_PG_SCHEMA": pg_schema,
            "TESSERA_PG_BUILD_SCHEMA": f"{pg_schema}_build",
        }
    )


def run_wide_folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A folder of this test run that every pytest-xdist worker sees: each worker's base temp folder is
    a subfolder of it. Without xdist, the base temp folder itself."""
    base = tmp_path_factory.getbasetemp()
    return base.parent if os.environ.get("PYTEST_XDIST_WORKER") else base


def _built_world_settings(root: Path, person_sources: dict[str, str] | None) -> Settings:
    """world_settings(root), reading the person sources from root/config when the world declares some."""
    settings = world_settings(root)
    if person_sources is None:
        return settings
    return replace(settings, person_sources_path=root / "config" / "person_sources.yml")


def copy_of_built_world(
    tmp_path_factory: pytest.TempPathFactory,
    name: str,
    rows: dict[str, list[dict[str, Any]]],
    select: list[str] | None,
    into: Path,
    person_sources: dict[str, str] | None = None,
) -> Settings:
    """A private DuckDB world under `into`: a copy of the world `name` (the raw tables `rows`, built and
    published once per test run, narrowed to `select`, without the dbt unit tests), so modules whose
    first build is the same build it once between them. The first caller builds it, on whichever
    worker, while the others wait for it (a file lock); each gets a copy of the folder of its own, to
    build on or change as it likes. `person_sources` (file name: text) are written into the world's
    config folder: person_sources.yml, declaring person sources, and the files it reads; the settings
    returned read them from the copy's. Every caller of one `name` passes the same `rows`, `select` and
    `person_sources`."""
    shared = run_wide_folder(tmp_path_factory) / f"built-world-{name}"
    with open(shared.with_name(f"{shared.name}.lock"), "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not (shared / "built").exists():
            shutil.rmtree(shared, ignore_errors=True)  # what a failed build left
            settings = _built_world_settings(shared / "world", person_sources)
            write_world(settings.data_dir, rows)
            for file_name, text in (person_sources or {}).items():
                settings.person_sources_path.parent.mkdir(parents=True, exist_ok=True)
                (settings.person_sources_path.parent / file_name).write_text(text)
            with dbt_unit_tests_run_once():
                result = build(settings, select=select)
            assert result.published, result.audit.failures
            (shared / "built").write_text(name)
    # Nothing writes to the built world any more: copies need no lock.
    shutil.copytree(shared / "world", into, dirs_exist_ok=True)
    return _built_world_settings(into, person_sources)


def ts(day: int, hour: int = 12) -> dt.datetime:
    return dt.datetime(2025, 1, 1) + dt.timedelta(days=day, hours=hour)


def shop_customer(
    customer_id: int, first: str, last: str, email: str | None, phone: str | None = None, day: int = 0
) -> dict[str, Any]:
    return {
        "customer_id": customer_id,
        "first_name": first,
        "last_name": last,
        "email": email,
        "phone": phone,
        "country": "GB",
        "accepts_marketing": True,
        "created_at": ts(day),
        "updated_at": ts(day),
    }


def crm_contact(
    contact_id: str, first: str, last: str, email: str | None, phone: str | None = None, day: int = 0
) -> dict[str, Any]:
    stamp = ts(day).isoformat()
    return {
        "contact_id": contact_id,
        "first_name": first,
        "last_name": last,
        "email": email,
        "phone": phone,
        "country": "GB",
        "created_at": stamp,
        "updated_at": stamp,
    }


def identify(
    message_id: str,
    anonymous_id: str | None,
    user_id: str | None,
    email: str | None = None,
    day: int = 0,
    first: str | None = None,
    last: str | None = None,
) -> dict[str, Any]:
    return {
        "id": message_id,
        "anonymous_id": anonymous_id,
        "user_id": user_id,
        "email": email,
        "first_name": first,
        "last_name": last,
        "context_device_type": "desktop",
        "context_library_name": "analytics.js",
        "timestamp": ts(day),
        "sent_at": ts(day),
        "received_at": ts(day),
    }


def track(
    message_id: str, anonymous_id: str | None, user_id: str | None, event: str, day: int = 0, hour: int = 12
) -> dict[str, Any]:
    return {
        "id": message_id,
        "anonymous_id": anonymous_id,
        "user_id": user_id,
        "event": event,
        "context_device_type": "desktop",
        "context_library_name": "analytics.js",
        "timestamp": ts(day, hour),
        "sent_at": ts(day, hour),
        "received_at": ts(day, hour),
    }


def ticket(ticket_id: int, name: str, email: str | None, phone: str | None, day: int = 0) -> dict[str, Any]:
    return {
        "ticket_id": ticket_id,
        "requester_email": email,
        "requester_phone": phone,
        "requester_name": name,
        "subject": "help",
        "status": "solved",
        "priority": "normal",
        "channel": "email",
        "created_at": ts(day).isoformat(),
        "updated_at": ts(day).isoformat(),
    }
