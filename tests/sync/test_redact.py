"""Secrets never leave the process: a destination that echoes our headers in a 401 body leaks nothing
into the CLI's output, the logs, Dagster's run storage or the sync state database."""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import duckdb
import pytest
import yaml  # type: ignore[import-untyped]

from orchestration.sync.localserver import LocalServer, Request, Response
from orchestration.sync.redact import MASK, redact, register_secret, scrub_exception
from tests.sync.helpers import people, write_warehouse

TOKEN_ENV = "TESSERA_TEST_LEAK_TOKEN"


def echo_headers(request: Request) -> Response:
    """A HubSpot-like API that refuses the token and echoes every request header in its error body."""
    return Response(
        401,
        {
            "message": f"Authentication failed for {request.headers.get('authorization')}",
            "status": "error",
            "category": "INVALID_AUTHENTICATION",
            "received": request.headers,
        },
    )


@pytest.fixture
def echo() -> Iterator[LocalServer]:
    server = LocalServer(echo_headers).start()
    try:
        yield server
    finally:
        server.stop()


def project(root: Path, url: str, marker: str) -> dict[str, str]:
    """A published warehouse with a passing audit, a syncs file with a HubSpot sync, and the env."""
    warehouse = root / "warehouse" / "tessera.duckdb"
    warehouse.parent.mkdir(parents=True)
    write_warehouse(warehouse, people(5))
    (warehouse.parent / "last_audit.duckdb.json").write_text(json.dumps({"passed": True}))
    syncs = root / "syncs.yml"
    sync = {
        "name": "leaky",
        "source": {"model": "audience", "primary_key": "customer_id"},
        "destination": {"type": "hubspot", "token_env": TOKEN_ENV, "base_url": url},
        "mode": "upsert",
        "mapping": {"email": "email", "firstname": "first_name"},
        "schedule": "0 * * * *",
        "consent_purpose": "email_marketing",
        "limits": {"max_attempts": 1},
    }
    syncs.write_text(yaml.safe_dump({"syncs": [sync]}))
    return {
        "TESSERA_TARGET": "duckdb",
        "TESSERA_WAREHOUSE": str(warehouse),
        "TESSERA_BUILD_DB": str(root / "warehouse" / "build" / "tessera.duckdb"),
        "TESSERA_DATA_DIR": str(root / "data"),
        "TESSERA_SYNCS_FILE": str(syncs),
        "DAGSTER_HOME": str(root / "dagster_home"),
        TOKEN_ENV: f"pat-na1-{marker}",
    }


def files_with(root: Path, marker: str) -> list[str]:
    # A prefix: a secret cut short by a truncated message is still a leak.
    needle = marker[:12].encode()
    return sorted(str(path) for path in root.rglob("*") if path.is_file() and needle in path.read_bytes())


def rows_with(database: Path, marker: str) -> list[str]:
    """Every text value in every table of a DuckDB file that contains the marker (a byte grep can miss
    a compressed string)."""
    conn = duckdb.connect(str(database), read_only=True)
    try:
        hits = []
        columns = conn.execute(
            "select table_name, column_name from duckdb_columns() "
            "where data_type = 'VARCHAR' and database_name = current_database()"
        ).fetchall()
        for table, column in columns:
            found = conn.execute(
                f'select count(*) from "{table}" where "{column}" like ?', [f"%{marker[:12]}%"]
            ).fetchone()
            if found and found[0]:
                hits.append(f"{table}.{column}")
        return hits
    finally:
        conn.close()


def test_redact_masks_secrets_and_credential_headers_in_every_shape() -> None:
    marker = uuid.uuid4().hex
    register_secret(f"sk-{marker}")
    texts = [
        f"token sk-{marker} was refused",
        f"{{'authorization': 'Bearer abc{marker}', 'x-api-key': 'k{marker}'}}",
        f'{{"Authorization": "Klaviyo-API-Key z{marker}", "webhook-signature": "v1,{marker}"}}',
        f"Authorization: Basic dGVzc2VyYTp{marker}\nnext line",
        f"POST /x?access_token=a{marker}&id=1",
        f"{{'authorization': 'Bearer {marker[:20]}",  # cut short by a length limit
    ]
    for text in texts:
        assert marker[:8] not in (redact(text) or ""), text
        assert MASK in (redact(text) or "")
    assert redact("POST /crm/v3/objects/contacts/batch/upsert: HTTP 401") == (
        "POST /crm/v3/objects/contacts/batch/upsert: HTTP 401"
    )
    error = RuntimeError(f"failed with Authorization: Bearer {marker}")
    try:
        raise error from ValueError(f"cause sk-{marker}")
    except RuntimeError as exc:
        scrub_exception(exc)
        assert marker not in str(exc) and marker not in str(exc.__cause__)


def test_a_401_echoing_the_token_leaks_it_nowhere_through_the_cli(tmp_path: Path, echo: LocalServer) -> None:
    marker = f"leak{uuid.uuid4().hex}"
    env = {**os.environ, **project(tmp_path, echo.url, marker)}
    tessera = Path(sys.executable).with_name("tessera")
    done = subprocess.run(
        [str(tessera), "-v", "sync", "leaky"], env=env, capture_output=True, text=True, timeout=120
    )
    (tmp_path / "cli.stdout").write_text(done.stdout)
    (tmp_path / "cli.stderr").write_text(done.stderr)
    # The destination did refuse it, and did echo the token: the leak had its chance.
    assert done.returncode == 1, done.stderr[-2000:]
    assert "HTTP 401" in done.stdout
    assert [entry.status for entry in echo.requests()] == [401]
    state = tmp_path / "warehouse" / "sync_state.duckdb"
    assert duckdb.connect(str(state), read_only=True).execute(
        "select count(*) from sync_runs where status = 'failed' and error like '%HTTP 401%'"
    ).fetchone() == (1,)
    assert files_with(tmp_path, marker) == []
    for database in (state, tmp_path / "warehouse" / "sync_history.duckdb"):
        if database.exists():
            assert rows_with(database, marker) == [], database
    journal = (
        duckdb.connect(str(state), read_only=True).execute("select last_error from sync_journal").fetchall()
    )
    assert journal and all(MASK in (row[0] or "") for row in journal)


class _Collect(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(self.format(record))


def test_a_401_echoing_the_token_leaks_it_nowhere_through_dagster(
    tmp_path: Path, echo: LocalServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    from dagster import DagsterInstance, materialize

    from orchestration.settings import Settings
    from orchestration.sync.assets import _sync_asset
    from orchestration.sync.project import find_sync

    marker = f"leak{uuid.uuid4().hex}"
    env = project(tmp_path, echo.url, marker)
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    settings = Settings.from_env()
    asset = _sync_asset(settings, find_sync(settings, "leaky"))
    collect = _Collect()
    logging.getLogger().addHandler(collect)
    previous = logging.getLogger().level
    logging.getLogger().setLevel(logging.DEBUG)
    try:
        (tmp_path / "dagster_home").mkdir()
        with DagsterInstance.local_temp(tempdir=str(tmp_path / "dagster_home")) as instance:
            result = materialize([asset], instance=instance, raise_on_error=False)
            assert not result.success
            events: list[Any] = instance.all_logs(result.run_id)
            text = "\n".join(str(event) for event in events)
    finally:
        logging.getLogger().removeHandler(collect)
        logging.getLogger().setLevel(previous)
    (tmp_path / "python.log").write_text("\n".join(collect.lines))
    (tmp_path / "events.txt").write_text(text)
    assert "HTTP 401" in text
    assert [entry.status for entry in echo.requests()] == [401]
    assert files_with(tmp_path, marker) == []
    state = tmp_path / "warehouse" / "sync_state.duckdb"
    assert rows_with(state, marker) == []
    stored = duckdb.connect(str(state), read_only=True).execute("select error from sync_runs").fetchall()
    assert len(stored) == 1 and MASK in stored[0][0]
