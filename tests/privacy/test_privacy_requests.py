"""Privacy requests through Dagster leave no identifier behind, and the proof scans everything written (issue 12).

The session's published world is copied into a private folder. A person is erased the documented way:
`tessera privacy request erase --email …` records the request, and the `privacy_erase` Dagster job, given
only the request id, carries it out on a Dagster instance with its own DAGSTER_HOME. Then every file under
that DAGSTER_HOME is searched for the person's email."""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from dagster import instance_for_test

from orchestration.privacy.ledger import Ledger, ledger_path
from orchestration.privacy.scan import scan_bytes
from orchestration.settings import Settings
from orchestration.warehouse.connection import open_read_only
from tests.worlds import SKIP_UNIT_TESTS, world_settings


@dataclass
class Erased:
    settings: Settings
    env: dict[str, str]
    dagster_home: Path
    person: dict[str, Any]
    request_id: str
    run_success: bool
    request: dict[str, Any]


def _pick(settings: Settings) -> dict[str, Any]:
    """A customer with an email, a phone, a street and a full name no other customer has."""
    con = open_read_only(settings.published_db)
    try:
        cursor = con.execute(
            """
            with names as (
                select first_name, last_name from customers group by 1, 2 having count(*) = 1
            )
            select c.customer_id, c.email, c.phone, c.first_name, c.last_name, c.street
            from customers as c
            inner join names on c.first_name = names.first_name and c.last_name = names.last_name
            where c.email is not null and c.phone is not null and c.street is not null
                and c.source_count >= 3 and length(c.last_name) >= 5
            order by c.source_count desc, c.customer_id
            limit 1
            """
        )
        names = [d[0] for d in cursor.description]
        row = cursor.fetchone()
        assert row is not None
        return dict(zip(names, row, strict=True))
    finally:
        con.close()


@pytest.fixture(scope="module")
def erased(published, settings, tmp_path_factory) -> Iterator[Erased]:
    root = tmp_path_factory.mktemp("privacy-requests")
    private = world_settings(root)
    shutil.copytree(settings.data_dir, private.data_dir)
    private.published_db.parent.mkdir(parents=True)
    shutil.copyfile(settings.published_db, private.published_db)
    shutil.copyfile(settings.last_audit_path, private.last_audit_path)
    person = _pick(private)
    dagster_home = root / "dagster_home"
    dagster_home.mkdir()
    env = {
        "TESSERA_WAREHOUSE": str(private.published_db),
        "TESSERA_BUILD_DB": str(private.build_db),
        "TESSERA_DATA_DIR": str(private.data_dir),
        "DAGSTER_HOME": str(dagster_home),
        # A copy of the published world: the erasure's rebuild leaves out the dbt unit tests it ran.
        **SKIP_UNIT_TESTS,
    }
    from orchestration.cli import main
    from orchestration.privacy.jobs import privacy_erase

    with pytest.MonkeyPatch.context() as patch:
        for name, value in env.items():
            patch.setenv(name, value)
        recorded = CliRunner().invoke(main, ["privacy", "request", "erase", "--email", person["email"]])
        assert recorded.exit_code == 0, recorded.output
        request_id = json.loads(recorded.output.strip().splitlines()[-1])["request_id"]
        with instance_for_test(temp_dir=str(dagster_home)) as instance:
            result = privacy_erase.execute_in_process(
                run_config={"ops": {"erase_person": {"config": {"request_id": request_id}}}},
                instance=instance,
                raise_on_error=False,
            )
    with Ledger(ledger_path(private)) as ledger:
        request = ledger.request(request_id) or {}
    yield Erased(private, env, dagster_home, person, request_id, result.success, request)


def test_the_erase_job_takes_a_request_id_and_dagster_storage_never_holds_the_email(erased):
    assert erased.run_success, erased.request
    assert erased.request["status"] == "completed", erased.request
    files = [p for p in erased.dagster_home.rglob("*") if p.is_file()]
    assert any(p.suffix == ".db" for p in files), "Dagster wrote no run storage there"
    # The scan can see: the request id is in the run storage.
    assert sum(scan_bytes(p, [erased.request_id]) for p in files) > 0
    email = erased.person["email"]
    assert {str(p): n for p in files if (n := scan_bytes(p, [email]))} == {}


def test_the_ledger_forgets_the_recorded_identifier_once_carried_out(erased):
    with Ledger(ledger_path(erased.settings)) as ledger:
        assert ledger.subject(erased.request_id) is None
    assert scan_bytes(ledger_path(erased.settings), [erased.person["email"]]) == 0


def test_a_request_id_is_carried_out_once_and_an_identifier_is_refused_as_config(erased, monkeypatch):
    from orchestration.privacy.jobs import privacy_erase

    for name, value in erased.env.items():
        monkeypatch.setenv(name, value)
    with instance_for_test() as instance:
        again = privacy_erase.execute_in_process(
            run_config={"ops": {"erase_person": {"config": {"request_id": erased.request_id}}}},
            instance=instance,
            raise_on_error=False,
        )
        assert not again.success
        pasted = privacy_erase.execute_in_process(
            run_config={"ops": {"erase_person": {"config": {"request_id": "email:x@example.com"}}}},
            instance=instance,
            raise_on_error=False,
        )
        assert not pasted.success


def test_an_access_request_runs_as_a_dagster_job_by_its_id(erased, monkeypatch, tmp_path):
    from orchestration.cli import main
    from orchestration.privacy.jobs import privacy_export

    for name, value in {**erased.env, "DAGSTER_HOME": str(tmp_path)}.items():
        monkeypatch.setenv(name, value)
    con = open_read_only(erased.settings.published_db)
    try:
        (email,) = con.execute(
            "select email from customers where email is not null order by customer_id limit 1"
        ).fetchone()
    finally:
        con.close()
    recorded = CliRunner().invoke(main, ["privacy", "request", "access", "--identifier", f"email:{email}"])
    assert recorded.exit_code == 0, recorded.output
    request_id = json.loads(recorded.output.strip().splitlines()[-1])["request_id"]
    with instance_for_test(temp_dir=str(tmp_path)) as instance:
        result = privacy_export.execute_in_process(
            run_config={"ops": {"export_person": {"config": {"request_id": request_id}}}},
            instance=instance,
        )
    assert result.success
    assert result.output_for_node("export_person") == request_id
    document = json.loads(
        (erased.settings.published_db.parent / "privacy_exports" / f"{request_id}.json").read_text()
    )
    assert document["profile"][0]["email"] == email
    stored = [p for p in tmp_path.rglob("*") if p.is_file()]
    assert {str(p): n for p in stored if (n := scan_bytes(p, [email]))} == {}
    bad = CliRunner().invoke(
        main, ["privacy", "request", "erase", "--email", email, "--phone", "+447700900123"]
    )
    assert bad.exit_code == 2
