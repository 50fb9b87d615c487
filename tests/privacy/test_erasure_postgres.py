"""Access export, erasure with proof and cluster suppression on the Postgres target, end to end.

One small hand-made world (tests/privacy/world.py, postgres_privacy_world) with the person in five raw tables, a
declared person-source CSV and a declared warehouse table, built on the real Postgres server (beside
tests/privacy/test_masked_ids.py's people, whose Postgres tests read the same world); then export, erase and
check every table of every Tessera schema with SQL of its own (each row as text), the rewritten files and the
ledger."""

from __future__ import annotations

import json

import psycopg2
import pytest

from orchestration.privacy import backend_postgres
from orchestration.privacy.cluster import EraseIncomplete
from orchestration.privacy.erase import erase, set_suppression
from orchestration.privacy.export import export
from orchestration.privacy.hashing import suppression_hash
from orchestration.privacy.ledger import Ledger, ledger_path
from orchestration.privacy.proof import verify
from orchestration.warehouse.audit import PublishBlocked
from tests.conftest import TEST_PG_DATABASE
from tests.privacy.world import PG_VISITORS as VISITORS
from tests.worlds import dbt_unit_tests_run_once

# The world is shared with tests/privacy/test_masked_ids.py's Postgres tests: one worker builds it.
pytestmark = pytest.mark.xdist_group("privacy_pg")

PG = {"host": "127.0.0.1", "port": 5432, "user": "postgres", "dbname": TEST_PG_DATABASE, "connect_timeout": 3}


def _rows_holding(cur, schemas: list[str], needles: list[str]) -> dict[str, int]:
    """Independent of the scan code: every row of every base table of `schemas`, as text, searched for each
    needle (case-insensitive)."""
    cur.execute(
        "select table_schema, table_name from information_schema.tables "
        "where table_type = 'BASE TABLE' and table_schema = any(%s)",
        (schemas,),
    )
    hits = {}
    for schema, table in cur.fetchall():
        condition = " or ".join("strpos(lower(t::text), %s) > 0" for _ in needles)
        cur.execute(f'select count(*) from "{schema}"."{table}" as t where {condition}', needles)
        count = cur.fetchone()[0]
        if count:
            hits[f"{schema}.{table}"] = count
    return hits


def _schemas(cur, published: str, legacy: str) -> list[str]:
    cur.execute(
        "select schema_name from information_schema.schemata "
        "where left(schema_name, 4) = 'raw_' or schema_name = any(%s)",
        ([published, f"{published}_build", "retained", legacy],),
    )
    return [s for (s,) in cur.fetchall()]


@pytest.fixture(scope="module")
def pg_world(private_dbt_manifest, privacy_pg_world):
    """The shared Postgres privacy world (tests/privacy/world.py, postgres_privacy_world: the erasure's people
    beside tests/privacy/test_masked_ids.py's, built whole once per test run in the xdist group privacy_pg);
    the erase proof reads the model id columns from this module's own dbt parse (private_dbt_manifest). The
    erase below rebuilds it, as before without the dbt unit tests the Postgres demo (tests/test_postgres.py)
    runs."""
    return privacy_pg_world


def test_postgres_export_erase_and_cluster_suppression(pg_world, tmp_path):
    settings, schema, legacy = pg_world
    needles = ["ann@mail.net", "+447700900123", "ann-device-77"]

    # Export: the whole cluster, the person-source rows included.
    result, path = export(settings, "email:ann@mail.net", tmp_path / "export.json")
    document = json.loads(path.read_text())
    assert result.status == "completed" and len(document["customer_ids"]) == 1
    assert document["profile"][0]["email"] == "ann@mail.net"
    raw = document["raw_source_records"]
    assert {"shop.customers", "crm.contacts", "events.identifies", "events.tracks", "support.tickets"} <= set(
        raw
    )
    assert sorted((r["source_name"], r["record_id"]) for r in raw["person_sources.records"]) == [
        ("fair", "V1"),
        ("legacy", "10"),
    ]
    assert document["events"] and document["identifiers"]

    with psycopg2.connect(**PG) as con, con.cursor() as cur:
        cur.execute("select 'raw_shop.customers'::regclass::oid, pg_relation_filenode('raw_shop.customers')")
        _, filenode_before = cur.fetchone()
        before = _rows_holding(cur, _schemas(cur, schema, legacy), needles)
    assert {f"{schema}.customers", "raw_shop.customers", "raw_events.tracks", f"{legacy}.members"} <= set(
        before
    )

    # The rebuild fails after the erase's transaction committed: the rows it deleted from the live raw and
    # source tables stay deleted in place, and are vacuumed; the erase fails saying so, and
    # the ledger counts them, here and (once) in the run that finishes the request.
    def rebuild_fails(settings, note: str) -> None:
        raise PublishBlocked("the rebuild failed its audit (planted by the test)")

    with pytest.MonkeyPatch.context() as failing:
        failing.setattr(backend_postgres, "rebuild", rebuild_fails)
        with pytest.raises(EraseIncomplete, match="stay deleted") as incomplete:
            erase(settings, "phone:+447700900123", syncs=[])
    in_place = incomplete.value.deleted_rows
    assert in_place["raw_shop.customers"] == 1 and in_place["raw_person_sources.records"] == 2, in_place
    assert in_place[f"{legacy}.members"] == 1, in_place  # a declared table: live, no build puts it back
    assert not [place for place in in_place if place.startswith(f"{schema}_build.")], in_place
    with psycopg2.connect(**PG) as con, con.cursor() as cur:
        cur.execute("select pg_relation_filenode('raw_shop.customers')")
        assert cur.fetchone()[0] != filenode_before, "the rows deleted before the failure were not vacuumed"
        cur.execute(f"select count(*) from {schema}.customers where email = 'ann@mail.net'")
        assert cur.fetchone()[0] == 1, "nothing was published"
    with Ledger(ledger_path(settings)) as ledger:
        (failed_id,) = [r["request_id"] for r in ledger.requests() if r["status"] == "failed"]
        failed = ledger.request(failed_id) or {}
    assert failed["result"]["deleted_in_place"] == failed["result"]["deleted_rows"] == in_place

    with dbt_unit_tests_run_once():  # the whole rebuild, still without the unit tests
        erased = erase(settings, "phone:+447700900123", syncs=[])
    assert erased.request_id == failed_id  # the failed request, finished
    steps = {(s["step"], s["target"]): s for s in erased.steps}
    assert erased.status == "completed", erased.steps
    finished = _request(settings, failed_id)["result"]["deleted_rows"]
    assert {place: finished.get(place) for place in in_place} == in_place, finished
    for step in (
        "locate",
        "suppress",
        "warehouse",
        "landing_files",
        "person_source_files",
        "sync_state",
        "proof",
    ):
        assert steps[(step, "")]["status"] == "done", steps[(step, "")]
    assert "vacuumed (FULL)" in steps[("warehouse", "")]["detail"]
    proof = erased.proof
    assert proof["total_hits"] == 0 and proof["warehouse"] == "postgres"
    assert f"postgres:{schema}.customers" in proof["hits_per_table"]
    assert f"postgres:{legacy}.members" in proof["hits_per_table"]
    assert any(name.startswith("postgres:raw_person_sources.") for name in proof["hits_per_table"])
    assert "not_scanned" in proof
    # The name was searched for too, and is gone (no other customer is called Ann Erased).
    assert proof["probable"]["names_searched"] == 1 and proof["probable"]["total"] == 0
    # The phone is a fictional number the project's own dbt unit tests use: dbt's compiled tests and logs
    # hold it on every build. Counted apart, with the code named, not as the person's data.
    assert "models/staging/crm/_crm__models.yml" in proof["terms_in_project_code"]
    assert any("dbt-target-postgres" in name for name in proof["hits_from_project_code"])
    assert proof["files_per_place"].get("build", 0) + proof["files_per_place"].get("warehouse", 0) > 0
    assert verify(_request(settings, erased.request_id), "phone", "+447700900123") == {
        "is_subject": True,
        "was_scanned": True,
        "hits": 0,
        "proven_absent": True,
    }

    with psycopg2.connect(**PG) as con, con.cursor() as cur:
        assert _rows_holding(cur, _schemas(cur, schema, legacy), needles) == {}
        cur.execute(f"select email from {schema}.customers order by 1")
        kept = [e for (e,) in cur.fetchall()]
        assert "bob@mail.net" in kept and "ann@mail.net" not in kept
        cur.execute(f"select member_id from {legacy}.members")
        assert cur.fetchall() == [(11,)]
        cur.execute("select pg_relation_filenode('raw_shop.customers')")
        assert cur.fetchone()[0] != filenode_before, "raw_shop.customers was not rewritten (VACUUM FULL)"
        cur.execute(
            "select schema_name from information_schema.schemata where schema_name = any(%s)",
            ([f"{schema}_build", f"{schema}__previous"],),
        )
        assert cur.fetchall() == [], "a build or previous schema was left behind"
    lines = (settings.person_sources_path.parent / "visitors.csv").read_text().splitlines()
    assert lines == [VISITORS.splitlines()[0], *VISITORS.splitlines()[2:]]

    # Suppression on Postgres reaches the whole cluster: Bob's phone and shop id with his email.
    suppressed = set_suppression(settings, "email:bob@mail.net", suppress=True)
    assert suppressed.status == "completed"
    with Ledger(ledger_path(settings)) as ledger:
        hashes = {h for _, h in ledger.suppression_list()}
    for identifier_type, value in (
        ("email", "bob@mail.net"),
        ("phone", "+447700900456"),
        ("shop_customer_id", "2"),
        ("crm_contact_id", "c2"),
    ):
        assert suppression_hash(identifier_type, value) in hashes, identifier_type
    with psycopg2.connect(**PG) as con, con.cursor() as cur:
        cur.execute(f"select count(*) from {schema}.privacy_suppression_list")
        assert cur.fetchone()[0] == len(hashes)


def _request(settings, request_id: str) -> dict:
    with Ledger(ledger_path(settings)) as ledger:
        return ledger.request(request_id) or {}
