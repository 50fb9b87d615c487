"""An erase killed midway is finished by running it again: nothing is lost from the ledger, the proof is zero.

A copy of the small privacy world (tests/privacy/world.py, built once per test run) in a private folder. A
subprocess erases a person and is killed (SIGKILL) right after it published the warehouse without them, before it
rewrote the landing files: the hardest place to stop, since the warehouse no longer knows who the person was.
Nothing here depends on the world's size: the erase's rebuild of the small world does what it does on the
session's 1,500-customer one, in less time."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from orchestration.privacy.cluster import NoWarehouse
from orchestration.privacy.erase import _landing_id_columns, erase
from orchestration.privacy.files import scan_parquet
from orchestration.privacy.ledger import Ledger, ledger_path
from orchestration.privacy.masking import export_masked_file, masked_file_path
from orchestration.privacy.scan import scan_bytes, scan_tables
from orchestration.warehouse.connection import open_read_only
from orchestration.warehouse.load import present_raw_files
from tests.conftest import require_postgres
from tests.privacy.world import KILLED_EMAIL, copy_of_privacy_world
from tests.worlds import SKIP_UNIT_TESTS, world_settings

KILLED_RUN = textwrap.dedent(
    """
    import os, signal, sys
    import orchestration.privacy.erase as erase_module
    from orchestration.settings import Settings

    def killed(*args, **kwargs):
        os.kill(os.getpid(), signal.SIGKILL)

    # Right after the warehouse step published, before the landing files are rewritten.
    erase_module._erase_landing_files = killed
    erase_module.erase(Settings.from_env(), sys.argv[1], syncs=[])
    """
)


def _hits(path: Path, terms: list[str]) -> dict[str, int]:
    con = open_read_only(path)
    try:
        return {s.table: s.hits for s in scan_tables(con, terms) if s.hits}
    finally:
        con.close()


def _masked_customer_id(settings, customer_id: str) -> str:
    """The customer id as the masked views show it: keyed with the warehouse's masking salt."""
    con = open_read_only(settings.published_db)
    try:
        row = con.execute("select md5(concat(salt, ?)) from privacy_masking_salt", [customer_id]).fetchone()
    finally:
        con.close()
    assert row is not None
    return str(row[0])


def _pick(settings) -> tuple[str, list[str]]:
    """A customer seen in three or more sources with events, preferably also in a person source's file: the
    privacy world's Kim Killed (tests/privacy/world.py), also in the trade fair's visitor list."""
    con = open_read_only(settings.published_db)
    try:
        row = con.execute(
            """
            select c.customer_id, c.email
            from customers as c
            left join customer_source_records as p
                on p.customer_id = c.customer_id and p.source_name = 'fair'
            where c.email is not null and c.source_count >= 3
                and exists (select 1 from events as e where e.customer_id = c.customer_id)
            order by p.customer_id is null, c.source_count desc, c.customer_id
            limit 1
            """
        ).fetchone()
        assert row is not None
        terms = [row[0]] + [
            v
            for (v,) in con.execute(
                "select identifier_value from customer_identifiers where customer_id = ? "
                "and identifier_type in ('email', 'phone', 'anonymous_id')",
                [row[0]],
            ).fetchall()
        ]
        return row[1], terms
    finally:
        con.close()


def _raw_hits(raw_dir: Path, terms: list[str]) -> int:
    """The person's rows in the raw landing files, matched as the erase and its proof match them (a short
    term only in each raw table's identifier columns, orchestration/privacy/id_columns.py)."""
    landing = {path: (source, table) for source, table, path in present_raw_files(raw_dir)}
    return sum(
        scan_parquet(path, terms, _landing_id_columns(landing.get(path)))[0]
        for path in sorted(raw_dir.rglob("*.parquet"))
    )


def test_a_killed_erase_is_finished_by_running_it_again(private_dbt_manifest, tmp_path_factory, tmp_path):
    """The erase proof reads the model id columns from this module's own dbt parse (private_dbt_manifest), so
    the test runs on any pytest-xdist worker; the killed subprocess inherits its DBT_TARGET_PATH."""
    private = copy_of_privacy_world(tmp_path_factory, tmp_path / "world")
    email, terms = _pick(private)
    assert email == KILLED_EMAIL, email
    assert _raw_hits(private.raw_dir, terms) > 0
    # The analysts' masked file exists: every publish, the erase's included, rewrites it. It shows the person's
    # customer id keyed (the masked views hash every customer id), never in clear.
    masked = masked_file_path(private)
    export_masked_file(private.published_db, masked)
    pseudonym = _masked_customer_id(private, terms[0])
    assert _hits(masked, [pseudonym]), (
        "the masked file holds the person's masked customer id before the erase"
    )
    assert not _hits(masked, terms[:1]), "the masked file shows a customer id in clear"

    env = {
        **os.environ,
        "TESSERA_TARGET": "duckdb",
        "TESSERA_DATA_DIR": str(private.data_dir),
        "TESSERA_WAREHOUSE": str(private.published_db),
        "TESSERA_BUILD_DB": str(private.build_db),
        "TESSERA_PERSON_SOURCES": str(private.person_sources_path),
        # The world was built without the dbt unit tests (the session's main world runs them): so is its rebuild.
        **SKIP_UNIT_TESTS,
    }
    killed = subprocess.run(
        [sys.executable, "-c", KILLED_RUN, f"email:{email}"],
        env=env,
        cwd=Path(__file__).parents[2],
        capture_output=True,
        text=True,
        timeout=1200,
    )
    assert killed.returncode == -signal.SIGKILL, killed.stderr[-3000:]

    # What the kill left: the ledger knows the request and what it located; the warehouse is published
    # without the person; the landing files still hold them.
    with Ledger(ledger_path(private)) as ledger:
        (request_id,) = ledger.find_requests("email", email)
        request = ledger.request(request_id)
        assert request is not None and request["status"] == "in_progress"
        done = {s["step"] for s in ledger.steps(request_id) if s["status"] == "done"}
        assert {"locate", "suppress", "warehouse"} <= done and "landing_files" not in done
        assert ledger.work(request_id) is not None
        suppressed = len(ledger.suppression_list())
    con = open_read_only(private.published_db)
    try:
        assert not {s.table: s.hits for s in scan_tables(con, terms) if s.hits}
    finally:
        con.close()
    assert _raw_hits(private.raw_dir, terms) > 0

    resumed = erase(private, f"email:{email}", syncs=[])

    assert resumed.request_id == request_id
    assert resumed.status == "completed", resumed.steps
    steps = {s["step"]: s for s in resumed.steps if not s["target"]}
    assert steps["resume"]["status"] == "done" and "in_progress" in steps["resume"]["detail"]
    assert steps["warehouse"]["attempts"] == 1, "the published warehouse was rebuilt again"
    assert steps["landing_files"]["status"] == "done" and steps["proof"]["status"] == "done"
    assert resumed.proof is not None and resumed.proof["total_hits"] == 0
    assert _raw_hits(private.raw_dir, terms) == 0
    assert all(
        scan_bytes(p, terms) == 0
        for p in private.data_dir.rglob("*")
        if p.is_file() and p.suffix != ".parquet"
    )
    assert steps["masked_file"]["status"] == "done"
    assert any(name.startswith("masked_file:") for name in resumed.proof["hits_per_table"])
    assert not _hits(masked, [*terms, pseudonym])
    with Ledger(ledger_path(private)) as ledger:
        assert ledger.find_requests("email", email) == [request_id]
        assert ledger.work(request_id) is None, "what the erase located is kept after it finished"
        assert len(ledger.suppression_list()) == suppressed
    # Her record in the trade fair's visitor list is gone too (the step after the landing files).
    assert steps["person_source_files"]["status"] == "done"
    assert KILLED_EMAIL not in (private.person_sources_path.parent / "visitors.csv").read_text()


@pytest.mark.parametrize("subject", ["email:", "email:  ", "nonsense", "fax:123", "phone:abc"])
def test_bad_subjects_are_refused_before_the_ledger_records_anything(settings, tmp_path, subject):
    private = world_settings(tmp_path)
    with pytest.raises(ValueError):
        erase(private, subject, syncs=[])
    assert not ledger_path(private).exists()


def test_an_erase_without_a_published_warehouse_says_so_and_records_nothing(settings, tmp_path):
    private = world_settings(tmp_path)
    with pytest.raises(NoWarehouse, match="run a build first"):
        erase(private, "email:ann@example.com", syncs=[])
    assert not ledger_path(private).exists()


def test_a_postgres_erase_without_a_published_schema_says_so_and_records_nothing(settings, tmp_path):
    require_postgres()
    private = world_settings(tmp_path, target="postgres", pg_schema="privacy_never_built")
    with pytest.raises(NoWarehouse, match="no published schema 'privacy_never_built'"):
        erase(private, "email:ann@example.com", syncs=[])
    assert not ledger_path(private).exists()
