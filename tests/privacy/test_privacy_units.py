"""The privacy building blocks on their own: hashes, the ledger, scans, file rewrites, destination retries."""

from __future__ import annotations

import csv
import hashlib
import random
import re

import duckdb
import psycopg2
import pytest

from orchestration.privacy.cluster import parse_subject
from orchestration.privacy.destinations import erase_pending
from orchestration.privacy.files import compact_duckdb, rewrite_parquet_without
from orchestration.privacy.hashing import salted_hash, suppression_hash
from orchestration.privacy.ledger import Ledger
from orchestration.privacy.scan import count_lowered, match_condition, scan_bytes, scan_tables
from orchestration.sync.destinations.base import Batch, Record
from orchestration.sync.destinations.files import Files, FilesSettings
from orchestration.sync.localserver import Fault, FaultSchedule
from tests.conftest import TEST_PG_DATABASE
from tests.privacy.fakes import HubSpotGdprFake
from tests.sync.helpers import FakeClock, make_config


def test_suppression_hash_is_the_same_in_python_duckdb_and_postgres():
    expected = suppression_hash("email", "ann@example.com")
    assert expected == hashlib.sha256(b"email:ann@example.com").hexdigest()
    assert duckdb.sql("select sha256('email' || ':' || 'ann@example.com')").fetchall()[0][0] == expected
    try:
        conn = psycopg2.connect(f"host=127.0.0.1 dbname={TEST_PG_DATABASE} user=postgres connect_timeout=3")
    except psycopg2.OperationalError:
        pytest.skip("Postgres is not reachable")
    with conn, conn.cursor() as cur:
        cur.execute("select encode(sha256(convert_to('email' || ':' || 'ann@example.com', 'UTF8')), 'hex')")
        assert cur.fetchone()[0] == expected
    conn.close()


def test_subject_must_be_type_and_value():
    assert parse_subject("email: Ann@Example.COM ") == ("email", "ann@example.com")
    assert parse_subject("phone:07700 900123") == ("phone", "+447700900123")
    for bad in ("ann@example.com", "passport:123", "phone:not a number"):
        with pytest.raises(ValueError):
            parse_subject(bad)


def test_ledger_keeps_salted_hashes_not_identifiers(tmp_path):
    path = tmp_path / "ledger.duckdb"
    with Ledger(path) as ledger:
        first = ledger.new_request("erase", "email", "ann@example.com")
        second = ledger.new_request("access", "email", "ann@example.com")
        assert first.salt != second.salt and first.subject_hash != second.subject_hash
        assert set(ledger.find_requests("email", "ann@example.com")) == {first.request_id, second.request_id}
        assert ledger.find_requests("email", "bob@example.com") == []
        ledger.step(first.request_id, "destination", "failed", "HTTP 503", target="hubspot")
        ledger.step(first.request_id, "destination", "done", "1 erased", target="hubspot")
        (step,) = ledger.steps(first.request_id)
        assert (step["status"], step["attempts"]) == ("done", 2)
        with pytest.raises(ValueError):
            ledger.step(first.request_id, "x", "maybe")
        with pytest.raises(ValueError):
            ledger.new_request("forget", "email", "ann@example.com")
    compact_duckdb(path)
    assert scan_bytes(path, ["ann@example.com"]) == 0


def test_unsuppress_lifts_every_identifier_of_the_request(tmp_path):
    with Ledger(tmp_path / "ledger.duckdb") as ledger:
        ann = ledger.new_request("erase", "email", "ann@example.com")
        bob = ledger.new_request("suppress", "email", "bob@example.com")
        ledger.suppress(
            ann.request_id, [("email", suppression_hash("email", "ann@example.com")), ("phone", "h2")]
        )
        ledger.suppress(bob.request_id, [("email", suppression_hash("email", "bob@example.com"))])
        assert len(ledger.suppression_list()) == 3
        removed, requests = ledger.unsuppress(suppression_hash("email", "ann@example.com"))
        assert (removed, requests) == (2, [ann.request_id])
        assert ledger.suppression_list() == [("email", suppression_hash("email", "bob@example.com"))]
        assert ledger.unsuppress("no such hash") == (0, [])


def test_scan_matches_long_terms_inside_text_and_short_ones_whole():
    con = duckdb.connect()
    con.execute(
        "create table t (customer_id bigint, amount bigint, note varchar, payload json);"
        "insert into t values "
        "(6800000015382, 1, 'x', '{\"email\": \"Ann@Example.com\"}'),"  # email inside JSON, any case
        "(1, 6800000015382, 'x', null),"  # the id as an amount: not a hit
        "(2, 3, 'order 68000000153821', null),"  # the id inside other digits: not a hit
        "(3, 4, '6800000015382', null),"  # the whole text value: a hit
        "(4, 5, 'nothing', null)"
    )
    terms = ["ann@example.com", "6800000015382"]
    (scan,) = scan_tables(con, terms)
    assert (scan.rows, scan.hits) == (5, 2)
    condition = match_condition([("customer_id", "BIGINT"), ("amount", "BIGINT"), ("note", "VARCHAR")], terms)
    assert condition is not None and "amount" not in condition
    # Numbers are never compared: a count or a surrogate key that happens to equal a numeric id is nobody's.
    assert "customer_id" not in condition


def test_compaction_removes_deleted_values_from_the_file_bytes(tmp_path):
    path = tmp_path / "w.duckdb"
    con = duckdb.connect(str(path))
    # Stored uncompressed, so that the bytes show what a delete leaves behind.
    con.execute("set force_compression = 'uncompressed'")
    con.execute(
        "create table people as select 'person' || i || '@example.com' as email from range(20000) t(i)"
    )
    con.execute("checkpoint")
    con.execute("delete from people where email = 'person123@example.com'")
    con.execute("checkpoint")
    con.close()
    assert scan_bytes(path, ["person123@example.com"]) > 0, "DuckDB reclaimed the deleted row by itself"
    compact_duckdb(path)
    assert scan_bytes(path, ["person123@example.com"]) == 0
    con = duckdb.connect(str(path), read_only=True)
    assert con.execute(
        "select count(*), count(*) filter (where email = 'person124@example.com') from people"
    ).fetchone() == (19999, 1)
    con.close()


def test_parquet_rewrite_drops_only_the_person(tmp_path):
    path = tmp_path / "contacts.parquet"
    duckdb.sql(
        "copy (select i as contact_id, 'p' || i || '@mail.net' as email from range(100) t(i)) "
        f"to '{path}' (format parquet)"
    )
    assert rewrite_parquet_without(path, ["p7@mail.net"], "contact_id", ["42"]) == 2
    assert duckdb.sql(f"select count(*) from read_parquet('{path}')").fetchall()[0][0] == 98
    assert rewrite_parquet_without(path, ["p7@mail.net"]) == 0


@pytest.mark.parametrize("file_format", ["csv", "jsonl", "parquet"])
def test_files_destination_erase_rewrites_its_files(tmp_path, file_format):
    settings = FilesSettings(type="files", directory=str(tmp_path), format=file_format)
    files = Files(settings, "people", ["email"], settings.limits())
    for batch_id, keys in (("b1", ["k1", "k2"]), ("b2", ["k3"])):
        items = [files.prepare(Record(k, "upsert", {"email": f"{k}@mail.net"})) for k in keys]
        files.send_batch(Batch("upsert", batch_id, items))
    results = files.erase([Record("k2", "erase", {}), Record("k3", "erase", {})], "pr_1")
    assert all(r.ok for r in results)
    remaining = sorted(tmp_path.glob("people__*"))
    assert [p.name for p in remaining] == [f"people__b1.{file_format}"]
    assert scan_bytes(remaining[0], ["k2@mail.net"]) == 0 or file_format == "parquet"
    if file_format == "csv":
        with open(remaining[0], newline="") as handle:
            assert [row["_key"] for row in csv.DictReader(handle)] == ["k1"]
    else:
        assert [r["_key"] for r in files._read(remaining[0])] == ["k1"]


def test_a_failing_destination_stays_pending_until_it_confirms(tmp_path):
    fake = HubSpotGdprFake().start(
        faults=FaultSchedule(
            {n: Fault("status", status=500) for n in range(1, 5)}, match=lambda r: "gdpr" in r.path
        )
    )
    try:
        fake.store["ann@example.com"] = {"email": "ann@example.com"}
        fake.ids["ann@example.com"] = "1001"
        config = make_config(
            {"type": "hubspot", "token_env": "HUBSPOT_TOKEN", "base_url": fake.url},
            mapping={"email": "email"},
            name="hubspot_contacts",
        )
        gone = make_config(
            {"type": "hubspot", "token_env": "HUBSPOT_TOKEN", "base_url": fake.url},
            mapping={"email": "email"},
            name="removed_sync",
        )
        env = {"HUBSPOT_TOKEN": "pat-test-token"}
        with Ledger(tmp_path / "ledger.duckdb") as ledger:
            request = ledger.new_request("erase", "email", "ann@example.com")
            payload = '{"email": "ann@example.com"}'
            ledger.add_pending(request.request_id, "hubspot_contacts", [("cus_1", "1001", payload)])
            ledger.add_pending(request.request_id, "removed_sync", [("cus_1", None, payload)])
            outcomes = {o.sync_name: o for o in erase_pending(ledger, [config], env=env, clock=FakeClock())}
            assert outcomes["hubspot_contacts"].status == "failed"
            assert "500" in outcomes["hubspot_contacts"].detail
            assert outcomes["removed_sync"].status == "not_supported"
            assert [(p.sync_name, p.attempts) for p in ledger.pending()] == [("hubspot_contacts", 1)]
            assert "ann@example.com" in fake.store
            outcomes = {
                o.sync_name: o for o in erase_pending(ledger, [config, gone], env=env, clock=FakeClock())
            }
            assert outcomes["hubspot_contacts"].status == "done"
            assert ledger.pending() == [] and "ann@example.com" not in fake.store
            assert fake.gdpr_deleted == ["1001"]
    finally:
        fake.stop()


def test_salted_hash_ignores_case_and_spaces():
    assert salted_hash("s", " Ann@Example.com ") == salted_hash("s", "ann@example.com")
    assert salted_hash("s", "ann@example.com") != salted_hash("t", "ann@example.com")


def _published_with_masked_view(path, emails: list[str]) -> None:
    con = duckdb.connect(str(path))
    con.execute("create table customers (customer_id varchar, email varchar)")
    con.executemany("insert into customers values (?, ?)", [[f"cus_{i}", e] for i, e in enumerate(emails)])
    con.execute("create schema masked")
    con.execute("create view masked.customers as select customer_id, md5(email) as email from main.customers")
    con.close()


def test_every_publish_refreshes_the_masked_file_and_a_broken_one_is_removed(tmp_path):
    from orchestration.privacy.masking import export_masked_file, masked_file_path
    from orchestration.warehouse.audit import Audit
    from orchestration.warehouse.duckdb import DuckDBWarehouse
    from tests.worlds import world_settings

    settings = world_settings(tmp_path)
    settings.published_db.parent.mkdir(parents=True)
    settings.build_db.parent.mkdir(parents=True)
    _published_with_masked_view(settings.published_db, ["ann@example.com", "bob@example.com"])
    warehouse = DuckDBWarehouse(settings)
    passed = Audit(passed=True, failures=[], tests_passed=1, tests_warned=0, models_built=1, finished_at=0)

    # No masked file written yet and none configured: a publish writes none.
    _published_with_masked_view(settings.build_db, ["bob@example.com"])
    passed.write(settings.audit_path)
    warehouse.publish()
    assert not masked_file_path(settings).exists()

    export_masked_file(settings.published_db, masked_file_path(settings))
    _published_with_masked_view(settings.build_db, ["cara@example.com"])
    passed.write(settings.audit_path)
    warehouse.publish()
    con = duckdb.connect(str(masked_file_path(settings)), read_only=True)
    assert con.execute("select customer_id from masked.customers").fetchall() == [("cus_0",)]
    assert con.execute("select email from masked.customers").fetchall() == [
        (hashlib.md5(b"cara@example.com").hexdigest(),)
    ]
    con.close()

    # A published file without masked views cannot refresh it: the stale file goes rather than stays.
    duckdb.connect(str(settings.build_db)).execute("create table t (i integer)").close()
    passed.write(settings.audit_path)
    warehouse.publish()
    assert not masked_file_path(settings).exists()


def test_a_declared_csv_loses_only_the_persons_rows_and_keeps_every_other_byte(tmp_path):
    from orchestration.person_sources.config import PersonSource
    from orchestration.privacy.person_sources import rewrite_csv_without

    path = tmp_path / "visitors.csv"
    original = (
        b"\xef\xbb\xbfNo;Name;Email\r\n"
        b"V1;Ann Erased; Ann@Mail.NET \r\n"
        b'V2;"Bob; ""the"" builder\nsecond line";bob@mail.net\r\n'
        b"V3;Ann again;\r\n"  # her record id only
        b"V4;too;many;fields;\xff\r\n"  # malformed, not UTF-8, someone else's
        b"V5;Dee;note ann@mail.net inside\r\n"
    )
    path.write_bytes(original)
    source = PersonSource.model_validate(
        {
            "name": "fair",
            "file": str(path),
            "record_id": "No",
            "fields": {"full_name": "Name", "email": "Email"},
            "delimiter": ";",
        }
    )
    assert rewrite_csv_without(path, source, {"V3"}, ["ann@mail.net"]) == 3
    assert path.read_bytes() == (
        b"\xef\xbb\xbfNo;Name;Email\r\n"
        b'V2;"Bob; ""the"" builder\nsecond line";bob@mail.net\r\n'
        b"V4;too;many;fields;\xff\r\n"
    )
    assert rewrite_csv_without(path, source, set(), ["ann@mail.net"]) == 0


def test_person_source_rows_are_named_by_position_and_record_id():
    from orchestration.privacy.cluster import person_rows_condition

    con = duckdb.connect()
    con.execute(
        "create table records as select * from (values "
        "('fair', 'visitors', 1, 'V1'), ('fair', 'visitors', 2, ' V2 '), ('fair', 'visitors', 3, null)"
        ") as t(source_name, table_name, row_number, record_id)"
    )
    # After a reload row 1 is someone else (V9): the position alone must not select it.
    wanted = {("fair", "visitors", 1, "V9"), ("fair", "visitors", 2, "V2"), ("fair", "visitors", 3, "")}
    rows = con.execute(f"select row_number from records where {person_rows_condition(wanted)} order by 1")
    assert rows.fetchall() == [(2,), (3,)]
    assert con.execute(f"select count(*) from records where {person_rows_condition(set())}").fetchone() == (
        0,
    )


def test_a_finished_request_counts_live_rows_once_and_reloaded_raw_rows_at_most_once():
    """The run that finishes a failed erase adds what the failed run deleted where nothing puts it back (a
    loader's file, a live table); a raw table, which builds reload from the landing files until the erase
    rewrites them, may be deleted again, and keeps the larger count."""
    from orchestration.privacy.erase import _summed

    carried = {"segment:segment_prod.tracks": 3, "legacy.members": 1, "raw_shop.customers": 2}
    again = {"segment:segment_prod.tracks": 0, "legacy.members": 0, "raw_shop.customers": 2, "tessera.x": 5}
    assert _summed(carried, again) == {
        "segment:segment_prod.tracks": 3,
        "legacy.members": 1,
        "raw_shop.customers": 2,
        "tessera.x": 5,
    }
    assert _summed({"raw_shop.customers": 2}, {"raw_shop.customers": 0}) == {"raw_shop.customers": 2}
    assert _summed({"raw_db:s.t": 2}, {"raw_db:s.t": 1}) == {"raw_db:s.t": 3}  # a loader file named raw_db


_REPORTED = [
    ("EraseIncomplete", "the rebuild failed (2 rows were deleted from 1 tables outside the build already)"),
    ("PublishBlocked", "the rebuilt warehouse still holds the person: {'tessera.customers': 1}"),
    ("SourceBusy", "data/loaders/demo_loaders.duckdb is held by another process"),
]


def _failure(name: str, message: str) -> Exception:
    from orchestration.privacy import cluster
    from orchestration.warehouse.audit import PublishBlocked

    if name == "EraseIncomplete":
        return cluster.EraseIncomplete(message, {"legacy.members": 2})
    return PublishBlocked(message) if name == "PublishBlocked" else cluster.SourceBusy(message)


@pytest.mark.parametrize(("name", "message"), _REPORTED)
def test_a_failed_erase_is_one_dagster_failure_and_one_cli_line(name, message, monkeypatch):
    """The erase job and `tessera privacy erase` report each failure an erase knows (what failed, what to do,
    no person named) as a Dagster Failure and as one line, not as a traceback."""
    from click.testing import CliRunner
    from dagster import Failure, build_op_context

    from orchestration.privacy import erase as erase_module
    from orchestration.privacy import jobs
    from orchestration.privacy.cli import privacy

    def fails(*args, **kwargs):
        raise _failure(name, message)

    monkeypatch.setattr(erase_module, "erase_request", fails)
    monkeypatch.setattr(erase_module, "erase", fails)
    with build_op_context() as context, pytest.raises(Failure) as raised:
        jobs.erase_person(context, jobs.PrivacyRequestConfig(request_id="pr_0123"))
    assert raised.value.description == message
    result = CliRunner().invoke(privacy, ["erase", "email:ann@example.com"])
    assert result.exit_code == 2 and "Traceback" not in result.output, result.output
    assert " ".join(result.output.split()) == message


def test_the_byte_scan_counts_what_a_case_insensitive_search_finds_chunk_by_chunk(tmp_path):
    """scan_bytes lowercases the bytes and searches a chunk at a time: it counts exactly the matches of a
    re.IGNORECASE search of the whole file, whatever the chunks cut through (terms overlapping each other,
    matches across a chunk's end), and no byte outside ASCII is folded."""
    rng = random.Random(7)
    alphabet = b"abAB@.x"
    for _ in range(2000):
        data = bytes(rng.choice(alphabet) for _ in range(rng.randint(0, 60)))
        terms = [
            bytes(rng.choice(alphabet) for _ in range(rng.randint(1, 4))) for _ in range(rng.randint(1, 3))
        ]
        expected = len(re.compile(b"|".join(re.escape(t) for t in terms), re.IGNORECASE).findall(data))
        needles = [t.lower() for t in terms]
        pattern = re.compile(b"|".join(re.escape(n) for n in needles))
        for chunk in (1, 2, 3, 7, 1000):
            assert count_lowered(pattern, data, max(map(len, needles)) - 1, chunk) == expected, (
                data,
                terms,
                chunk,
            )
    path = tmp_path / "file.bin"
    path.write_bytes("ANN@Example.com ann@example.COM Änn@example.com änn@EXAMPLE.com".encode())
    assert scan_bytes(path, ["ann@example.com"]) == 2
    assert scan_bytes(path, ["änn@example.com"]) == 1  # Ä is not ä to a byte scan, as to re.IGNORECASE
