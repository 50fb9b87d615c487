"""The erase proof scans everything the project writes (issue 12, item 7), names and street lines included.

A small hand-made world on DuckDB (a copy of the privacy world, tests/privacy/world.py): the subject (a rare
name, a phone and a specific street line) in the shop, the CRM and a support ticket, beside other customers. The
erase runs the documented way (issue 12): `tessera privacy request erase --email …` records the request, and the
`privacy_erase` Dagster job, given only the request id, carries it out with a private DAGSTER_HOME (its run
storage, event logs and compute logs are then real), with dbt's log and target folders pointed at the test's own.
A clean erase proves 0 hits, probable ones included, and no file under that DAGSTER_HOME holds the person's email;
then the email planted under DAGSTER_HOME and under a dbt target folder fails the proof naming both files, and the
name planted in a file is reported as a probable hit, by place only."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import duckdb
import pytest
from click.testing import CliRunner
from dagster import DagsterInstance, instance_for_test

from orchestration.privacy.erase import prove
from orchestration.privacy.ledger import Ledger, ledger_path, published_ledger_path
from orchestration.privacy.masking import masked_file_path
from orchestration.privacy.probable import Traits, capture_traits, scan_file
from orchestration.privacy.scan import normalise_terms, scan_bytes
from orchestration.settings import Settings
from orchestration.warehouse.connection import open_read_only
from tests.privacy.world import PROOF_EMAIL as EMAIL
from tests.privacy.world import PROOF_FIRST as FIRST
from tests.privacy.world import PROOF_LAST as LAST
from tests.privacy.world import PROOF_STREET as STREET
from tests.privacy.world import copy_of_privacy_world
from tests.worlds import SKIP_UNIT_TESTS


@dataclass
class Erased:
    settings: Settings
    env: dict[str, str]
    dagster_home: Path
    person: dict[str, Any]
    request_id: str
    run_success: bool
    request: dict[str, Any]
    traits: Traits

    @property
    def customer_id(self) -> str:
        return self.person["customer_id"]


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
def erased(private_dbt_manifest, tmp_path_factory):
    """A copy of the privacy world (built once per test run, tests/privacy/world.py), erased the documented
    way: `tessera privacy request erase --email …` records the request, and the `privacy_erase` Dagster job,
    given only the request id, carries it out on a Dagster instance with its own DAGSTER_HOME. dbt's files
    (the parse the proof reads the model id columns from, the rebuild's) are in this module's own target
    folder (private_dbt_manifest), so the module runs on any pytest-xdist worker and its proof scans no
    other test's dbt files. The project's default dbt configuration: the world's build and the erase's
    rebuild leave out the dbt unit tests the main world runs."""
    root = tmp_path_factory.mktemp("privacy_proof")
    settings = copy_of_privacy_world(tmp_path_factory, root)
    dagster_home = root / "dagster_home"
    dagster_home.mkdir()
    env = {
        "TESSERA_WAREHOUSE": str(settings.published_db),
        "TESSERA_BUILD_DB": str(settings.build_db),
        "TESSERA_DATA_DIR": str(settings.data_dir),
        "DAGSTER_HOME": str(dagster_home),
        "DBT_LOG_PATH": str(root / "dbt_logs"),
        "TESSERA_PERSON_SOURCES": str(settings.person_sources_path),
        **SKIP_UNIT_TESTS,
    }
    from orchestration.cli import main
    from orchestration.privacy.jobs import privacy_erase

    # Set for the module's tests too: the proofs they run scan this DAGSTER_HOME and dbt log folder.
    monkeypatch = pytest.MonkeyPatch()
    try:
        for name, value in env.items():
            monkeypatch.setenv(name, value)
        person = _pick(settings)
        assert person["email"] == EMAIL and person["phone"] == "+447700900461", person
        con = open_read_only(settings.published_db)
        try:
            traits = capture_traits(con, [person["customer_id"]])
        finally:
            con.close()
        recorded = CliRunner().invoke(main, ["privacy", "request", "erase", "--email", EMAIL])
        assert recorded.exit_code == 0, recorded.output
        request_id = json.loads(recorded.output.strip().splitlines()[-1])["request_id"]
        with DagsterInstance.get() as instance:
            result = privacy_erase.execute_in_process(
                run_config={"ops": {"erase_person": {"config": {"request_id": request_id}}}},
                instance=instance,
                raise_on_error=False,
            )
        with Ledger(ledger_path(settings)) as ledger:
            request = ledger.request(request_id) or {}
        yield Erased(settings, env, dagster_home, person, request_id, result.success, request, traits)
    finally:
        monkeypatch.undo()


def test_traits_are_captured_before_the_erase(erased):
    traits = erased.traits
    assert traits.names == [(FIRST.lower(), LAST.lower())]
    assert traits.streets == [STREET.lower()]


def test_a_clean_erase_through_dagster_proves_zero_hits_everywhere(erased):
    request, dagster_home = erased.request, erased.dagster_home
    assert request["status"] == "completed", request
    proof = request["proof"]
    assert proof["total_hits"] == 0, {k: v for k, v in proof["hits_per_file"].items() if v}
    assert proof["probable"]["total"] == 0, proof["probable"]
    assert proof["probable"]["names_searched"] == 1 and proof["probable"]["streets_searched"] == 1
    places = proof["files_per_place"]
    # Dagster's run storage and event logs, and dbt's log of the erase's rebuild, were scanned.
    assert places.get("dagster", 0) >= 1 and places.get("dbt_logs", 0) >= 1, places
    assert any(name.startswith(str(dagster_home)) for name in proof["hits_per_file"])
    assert any(name.endswith("dbt.log") for name in proof["hits_per_file"])
    # Checked apart from the scan code: Dagster's storage holds the request id, never the person.
    for path in dagster_home.rglob("*"):
        if path.is_file():
            data = path.read_bytes().lower()
            assert EMAIL.encode() not in data and LAST.lower().encode() not in data, path


def test_the_ledger_keeps_no_name_or_street_in_clear(erased):
    settings, request = erased.settings, erased.request
    assert request["proof"]["probable"]["term_hashes"]
    for path in (ledger_path(settings), published_ledger_path(settings)):
        data = path.read_bytes().lower()
        for value in (LAST.lower(), "larkspur", EMAIL):
            assert value.encode() not in data, (path, value)


def test_the_email_planted_in_dagster_and_dbt_target_fails_the_proof(erased, monkeypatch):
    settings, request, traits, customer_id = (
        erased.settings,
        erased.request,
        erased.traits,
        erased.customer_id,
    )
    dagster_home = erased.dagster_home
    target = settings.build_db.parent.parent.parent / "dbt_target"
    monkeypatch.setenv("DBT_TARGET_PATH", str(target))
    planted = [
        dagster_home / "storage" / "planted-run" / "compute_logs" / "erase.err",
        target / "compiled" / "tessera" / "models" / "planted.sql",
    ]
    for path in planted:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(f"select 1 where email = '{EMAIL.upper()}'\n")
    try:
        proof = prove(settings, normalise_terms([EMAIL, customer_id]), request["salt"], traits=traits)
    finally:
        for path in planted:
            path.unlink()
    hits = {name: count for name, count in proof["hits_per_file"].items() if count}
    assert proof["total_hits"] == 2
    assert hits == {str(path): 1 for path in planted}
    assert proof["probable"]["total"] == 0


def test_a_masked_file_holding_the_persons_pseudonyms_fails_the_proof(erased):
    """The masked file shows a customer id or an email only as its keyed pseudonym (md5 of the masking salt and
    the value), never in clear: the proof searches it for each term's pseudonym, so a masked file still holding
    the person (one left stale, say) fails it."""
    settings, request, traits, customer_id = (
        erased.settings,
        erased.request,
        erased.traits,
        erased.customer_id,
    )
    assert request["proof"]["masked_terms"] >= 2, "the clean erase searched for the pseudonyms too"
    con = open_read_only(settings.published_db)
    try:
        pseudonyms = [
            v
            for (v,) in con.execute(
                "select md5(concat(salt, t)) from privacy_masking_salt, unnest(?) as u(t)",
                [[customer_id, EMAIL]],
            ).fetchall()
        ]
    finally:
        con.close()
    stale = masked_file_path(settings)
    assert not stale.exists()
    con = duckdb.connect(str(stale))
    try:
        con.execute("create schema masked")
        con.execute("create table masked.customers (customer_id varchar, email varchar)")
        con.execute("insert into masked.customers values (?, null), (md5('someone else'), ?)", pseudonyms)
    finally:
        con.close()
    try:
        proof = prove(settings, normalise_terms([EMAIL, customer_id]), request["salt"], traits=traits)
    finally:
        stale.unlink()
    hits = {table: count for table, count in proof["hits_per_table"].items() if count}
    assert hits == {"masked_file:masked.customers": 2}
    assert proof["total_hits"] == 2


def test_the_name_planted_in_a_file_is_a_probable_hit_not_a_failure(erased):
    settings, request, traits, customer_id = (
        erased.settings,
        erased.request,
        erased.traits,
        erased.customer_id,
    )
    note = settings.data_dir / "notes" / "complaint.json"
    note.parent.mkdir(parents=True)
    note.write_text(json.dumps({"first_name": FIRST, "last_name": LAST.upper(), "said": "call me back"}))
    street = settings.published_db.parent / "letters.txt"
    street.write_text(f"Dear resident of {STREET}, ...")
    try:
        proof = prove(settings, normalise_terms([EMAIL, customer_id]), request["salt"], traits=traits)
    finally:
        note.unlink()
        street.unlink()
    assert proof["total_hits"] == 0
    probable = proof["probable"]
    assert probable["verdict"] == "probably the same person, not linked"
    assert {(h["where"], h["kind"]) for h in probable["hits"]} == {
        (str(note), "name"),
        (str(street), "street"),
    }
    text = json.dumps(proof).lower()
    assert LAST.lower() not in text and "larkspur" not in text


def test_name_hits_in_tables_name_the_columns(erased, tmp_path):
    """A table with the first and last name in two columns, and one with the full name in one."""
    path = tmp_path / "other.duckdb"
    con = duckdb.connect(str(path))
    try:
        con.execute("create table people (id varchar, first_name varchar, last_name varchar, note varchar)")
        con.execute(
            f"insert into people values ('1', ' {FIRST} ', '{LAST}', null), ('2', '{FIRST}', 'Other', null)"
        )
        con.execute("create table letters (id varchar, addressee varchar, body varchar)")
        con.execute(f"insert into letters values ('1', 'Mr {LAST}, {FIRST}', 'moved to {STREET.upper()}')")
        from orchestration.privacy import probable
        from orchestration.privacy.scan import tables_of

        hits = {
            (h.where, h.kind): (h.count, h.columns)
            for h in probable.scan_tables(con, erased.traits, tables_of(con), "x")
        }
    finally:
        con.close()
    assert hits == {
        ("x:main.people", "name"): (1, ["first_name", "last_name"]),
        ("x:main.letters", "name"): (1, ["addressee"]),
        ("x:main.letters", "street"): (1, ["body"]),
    }


def test_capture_skips_short_common_names_and_unspecific_or_shared_streets():
    con = duckdb.connect()
    try:
        con.execute(
            "create table customers (customer_id varchar, first_name varchar, last_name varchar, street varchar)"
        )
        rows = [
            # the subject: customer s1 (a name two others share, a specific street) and s2 (a short name)
            ("s1", "Maria", "Garcia", "4 High Street"),
            ("s2", "Al", "Li", "High Street"),
            ("o1", "Maria", "Garcia", None),
            ("o2", "maria", "GARCIA", None),
            ("s3", "John", "Smithson", "9 Elm Close"),
            ("o3", "John", "Smithson", "9 elm close"),
            ("o4", "John", "Smithson", None),
            ("o5", "John", "Smithson", None),
        ]
        con.executemany("insert into customers values (?, ?, ?, ?)", rows)
        traits = capture_traits(con, ["s1", "s2", "s3"])
    finally:
        con.close()
    # Maria Garcia: 2 others, searched; John Smithson: 3 others, common; Al Li: too short.
    assert traits.names == [("maria", "garcia")]
    # "High Street" has no house number; "9 Elm Close" is someone else's too.
    assert traits.streets == ["4 high street"]
    assert traits.skipped == {"short_name": 1, "common_name": 1, "street_not_specific": 1, "street_shared": 1}


def test_byte_scan_finds_names_across_json_fields_but_not_far_apart(tmp_path):
    traits = Traits(names=[("quentin", "zabriskie")])
    near = tmp_path / "near.log"
    near.write_text('{"last_name": "Zabriskie", "first_name": "Quentin"}\n')
    far = tmp_path / "far.log"
    far.write_text("Quentin\n" + "x" * 10 + " Zabriskie\n")
    part = tmp_path / "part.log"
    part.write_text("Quentinella Zabriskie\n")
    assert [h.count for h in scan_file(near, traits)] == [1]
    assert scan_file(far, traits) == [] and scan_file(part, traits) == []
    assert scan_bytes(near, ["zabriskie"]) == 1  # the identifier scan is another matter


def test_a_term_in_the_project_code_is_counted_apart_only_in_dbt_and_dagster_artefacts(
    erased, tmp_path, monkeypatch
):
    """Why the Postgres proof once failed: the test person's phone is a fixture of the project's own dbt unit
    tests, so dbt's compiled tests and logs hold it after every build. In a dbt or Dagster artefact such a term
    is counted apart (the code file named); in a data file it still fails the proof."""
    from dataclasses import replace

    settings, request, traits, customer_id = (
        erased.settings,
        erased.request,
        erased.traits,
        erased.customer_id,
    )
    project = tmp_path / "project"
    (project / "models").mkdir(parents=True)
    (project / "dbt_project.yml").write_text("name: p\nmodel-paths: [models]\n")
    (project / "models" / "_models.yml").write_text(f"unit_tests:\n  - given: [{{email: '{EMAIL}'}}]\n")
    target = tmp_path / "target"
    monkeypatch.setenv("DBT_TARGET_PATH", str(target))
    compiled = target / "compiled" / "p" / "models" / "_models.yml" / "unit.sql"
    compiled.parent.mkdir(parents=True)
    compiled.write_text(f"select '{EMAIL}' as email")
    data_file = settings.data_dir / "exports" / "leak.csv"
    data_file.parent.mkdir(parents=True, exist_ok=True)
    terms = normalise_terms([EMAIL, customer_id])
    try:
        clean = prove(replace(settings, project_dir=project), terms, request["salt"], traits=traits)
        data_file.write_text(f"id,email\n1,{EMAIL}\n")
        leaked = prove(replace(settings, project_dir=project), terms, request["salt"], traits=traits)
    finally:
        data_file.unlink(missing_ok=True)
    assert clean["total_hits"] == 0
    assert clean["terms_in_project_code"] == {"models/_models.yml": 1}
    assert clean["hits_from_project_code"] == {str(compiled): 1}
    assert leaked["total_hits"] == 1 and leaked["hits_per_file"][str(data_file)] == 1


# Moved from tests/privacy/test_privacy_requests.py, which erased a person of a copy of the session's
# 1,500-customer world the same way (the CLI records the request, the privacy_erase job carries it out).


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
