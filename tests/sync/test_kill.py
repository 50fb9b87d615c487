"""A sync process killed at any point loses nothing and duplicates nothing on the next run.

The sync runs in a child process; the test kills it with SIGKILL at several points (inside the server
after a batch was accepted but before the answer left, and at random moments between requests), then
lets a last run finish and checks what the destination holds."""

from __future__ import annotations

import dataclasses
import json
import os
import random
import signal
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path
from typing import Any

import pytest

from orchestration.sync.config import load_syncs
from orchestration.sync.engine import run_sync
from orchestration.sync.localserver import Request, Response
from orchestration.warehouse.interface import SyncLocation
from tests.sync.conftest import Paths
from tests.sync.fakes import FakeApi, HubSpotFake, WebhookFake
from tests.sync.helpers import WEBHOOK_SECRET, people, query, state_rows, write_warehouse

REPO = Path(__file__).resolve().parents[2]
# Crash safety is the point here, not pacing: let the child send as fast as the server answers.
FAST = {"requests": 1000, "per_seconds": 1}

CHILD = textwrap.dedent(
    """
    import json
    import sys
    sys.path.insert(0, sys.argv[1])
    from orchestration.sync.config import load_syncs
    from orchestration.sync.engine import run_sync
    from orchestration.warehouse.interface import SyncLocation

    def where(arg):
        return SyncLocation(**json.loads(arg)) if arg.startswith("{") else arg

    config = load_syncs(sys.argv[2])[0]
    result = run_sync(config, where(sys.argv[3]), where(sys.argv[4]))
    sys.exit(0 if result.status == "success" else 3)
    """
)


class Killer:
    """Kills the current child from inside the server, right after the N-th accepted request."""

    def __init__(self) -> None:
        self.child: subprocess.Popen[bytes] | None = None
        self.kill_after: int | None = None
        self.accepted = 0
        self.kills = 0
        self.lock = threading.Lock()

    def after_handle(self, request: Request, response: Response) -> None:
        with self.lock:
            if response.status >= 300:
                return
            self.accepted += 1
            if self.kill_after is not None and self.accepted >= self.kill_after and self.child is not None:
                os.kill(self.child.pid, signal.SIGKILL)
                self.kill_after = None
                self.kills += 1


def sync_file(tmp_path: Path, destination: dict[str, Any]) -> Path:
    path = tmp_path / "syncs.yml"
    sync = {
        "name": "killed",
        "source": {"model": "audience", "primary_key": "customer_id"},
        "destination": destination,
        "mode": "upsert",
        "mapping": {"email": "email", "firstname": "first_name"},
        "schedule": "*/5 * * * *",
        "consent_purpose": "email_marketing",
    }
    path.write_text(json.dumps({"syncs": [sync]}))  # JSON is YAML
    return path


def _arg(where: Path | SyncLocation) -> str:
    return json.dumps(dataclasses.asdict(where)) if isinstance(where, SyncLocation) else str(where)


def start_child(
    syncs: Path, warehouse: Path | SyncLocation, state: Path | SyncLocation, env: dict[str, str]
) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "-c", CHILD, str(REPO), str(syncs), _arg(warehouse), _arg(state)],
        env={**os.environ, **env},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )


@pytest.mark.parametrize("destination", ["webhook", "hubspot"])
def test_sigkill_mid_sync_loses_and_duplicates_nothing(
    tmp_path: Path, destination: str, paths: Paths
) -> None:
    rng = random.Random(7)
    killer = Killer()
    fake: FakeApi
    if destination == "webhook":
        fake = WebhookFake(WEBHOOK_SECRET)
        dest = {
            "type": "webhook",
            "url": "",
            "secret_env": "HOOK_SECRET",
            "batch_size": 50,
            "rate_limit": FAST,
        }
        env = {"HOOK_SECRET": WEBHOOK_SECRET}
        rows = people(2500)  # 50 batches: enough for every planned kill to land mid-run
    else:
        fake = HubSpotFake()
        dest = {
            "type": "hubspot",
            "base_url": "",
            "token_env": "HUBSPOT_TOKEN",
            "batch_size": 50,
            "rate_limit": FAST,
        }
        env = {"HUBSPOT_TOKEN": "pat-test-token"}
        rows = people(2500)
    fake.start(after_handle=killer.after_handle)
    try:
        dest["url" if destination == "webhook" else "base_url"] = (
            f"{fake.url}/hook" if destination == "webhook" else fake.url
        )
        syncs = sync_file(tmp_path, dest)
        warehouse = write_warehouse(paths.warehouse, rows)
        state = paths.state

        # Kill inside the server (accepted, answer never sent), then at random moments, several times.
        plans = [("in_server", 3), ("timed", 4), ("in_server", 2), ("timed", 6), ("timed", 9)]
        for how, count in plans:
            child = start_child(syncs, warehouse, state, env)
            killer.child = child
            base = killer.accepted
            if how == "in_server":
                with killer.lock:
                    killer.kill_after = base + count
            else:
                deadline = time.monotonic() + 60
                while killer.accepted < base + count and child.poll() is None and time.monotonic() < deadline:
                    time.sleep(0.002)
                time.sleep(rng.uniform(0, 0.03))
                if child.poll() is None:
                    child.kill()
                    killer.kills += 1
            child.wait(timeout=60)
            assert child.returncode != 0, "the child finished before it could be killed; use more rows"
        assert killer.kills == len(plans)

        final = start_child(syncs, warehouse, state, env)
        killer.child = None
        _, stderr = final.communicate(timeout=120)
        assert final.returncode == 0, stderr.decode()[-2000:]

        expected = {
            row["email"].strip().lower() if destination == "hubspot" else row["customer_id"]: row
            for row in rows
        }
        assert set(fake.store) == set(expected)
        if isinstance(fake, WebhookFake):
            # Every record accepted exactly once, and the resends really happened (and were dropped by id).
            assert set(fake.accepted.values()) == {1}
            assert fake.redeliveries >= 2
        for key, row in expected.items():
            stored = fake.store[key]
            assert (
                stored["email" if destination == "webhook" else "email"].strip().lower()
                == row["email"].strip().lower()
            )
            assert stored["firstname"] == row["first_name"]

        synced = state_rows(state, "killed")
        assert len(synced) == len(rows) and {r["status"] for r in synced.values()} == {"synced"}
        assert query(state, "select count(*) from sync_journal") == [(0,)]
        statuses = [s for (s,) in query(state, "select status from sync_runs order by started_at")]
        assert statuses[-1] == "success" and "interrupted" in statuses

        before = fake.request_count()
        again = run_sync(load_syncs(syncs)[0], warehouse, state, env=env)
        assert (again.status, again.requests) == ("success", 0)
        assert fake.request_count() == before
    finally:
        if killer.child is not None and killer.child.poll() is None:
            killer.child.kill()
        fake.stop()
