"""Person sources added by configuration alone: declaration errors, the loaders of both warehouses,
a small world with a CSV file, a Parquet file and a warehouse table end to end (DuckDB), and the
demo's trade-fair file in the shared full run."""

from __future__ import annotations

import datetime as dt
import textwrap
from pathlib import Path

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from orchestration.build.pipeline import build
from orchestration.build.reporting import warehouse_summary
from orchestration.person_sources import PersonSourceConfigError, PersonSourceLoadError, load_config
from orchestration.person_sources.check import check_sources
from orchestration.person_sources.load import load_duckdb, load_postgres
from orchestration.warehouse.registry import get_warehouse
from tests.conftest import TEST_PG_DATABASE, require_postgres
from tests.worlds import (
    IDENTITY_LAYER,
    crm_contact,
    dbt_unit_tests_run_once,
    shop_customer,
    world_settings,
    write_world,
)

VISITORS_CSV = textwrap.dedent(
    """\
    Visitor No,First Name,Surname,E-mail,Mobile,DOB,Badge
    V1,ann,LEE, Ann.Lee@Mail.org ,,03/02/1990,B-1
    V2,Dan,New,dan@new.org,07700 900555,,B-2
    V2,Dup,Row,dup@row.org,,,B-3
    ,Eve,NoId,eve@noid.org,,,
    V4,Fay,Date,fay@date.org,,31/02/1990,
    V5,test,,test@test.com,,,
    V6,Gil,Only,,,,B-6
    V7,Too,Many,too@many.org,,,B-7,extra
    """
)

DECLARATION = textwrap.dedent(
    """\
    person_sources:
      - name: fair
        file: visitors.csv
        record_id: Visitor No
        fields:
          first_name: First Name
          last_name: Surname
          email: E-mail
          phone: Mobile
          date_of_birth: DOB
        external_ids:
          fair_badge: Badge
        date_format: DD/MM/YYYY
        default_country: GB
      - name: gym
        file: members.parquet
        record_id: member_no
        fields:
          full_name: name
          phone: mobile
      - name: legacy
        table: {schema}.loyalty_members
        record_id: member_id
        fields:
          full_name: name
          email: email
        external_ids:
          crm_contact_id: crm_ref
        priority: 60
    """
)

LEGACY_SCHEMA = "person_sources_legacy"
# This worker's database (tests/conftest.py).
PG = {"host": "127.0.0.1", "port": 5432, "user": "postgres", "dbname": TEST_PG_DATABASE}


def _declare(settings, schema: str = LEGACY_SCHEMA) -> None:
    folder = settings.person_sources_path.parent
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "visitors.csv").write_text(VISITORS_CSV)
    pq.write_table(
        pa.table({"member_no": [1, 2], "name": ["Bob Stone", "  "], "mobile": ["07700 900101", None]}),
        folder / "members.parquet",
    )
    settings.person_sources_path.write_text(DECLARATION.format(schema=schema))


def _world(settings) -> None:
    write_world(
        settings.data_dir,
        {
            "shop.customers": [
                shop_customer(100, "Ann", "Lee", "ann.lee@mail.org"),
                shop_customer(101, "Bob", "Stone", "bob@stone.org", "+447700900101"),
            ],
            "crm.contacts": [crm_contact("003C", "Cara", "Diaz", "cara@diaz.org")],
        },
    )


# What the tests of the built world read: identity (tests/worlds.py), every staging model and the quarantine
# (the build's summary counts each raw table's loaded, staged and quarantined rows) and the person records'
# field issues; the marts, audiences, predictions and syncs are not built.
PERSON_SOURCES_LAYER = [
    *IDENTITY_LAYER,
    "+path:models/staging",
    "+quarantine_summary",
    "+person_record_field_issues",
]


def _settings(root: Path, target: str = "duckdb", pg_schema: str = "tessera_it"):
    settings = world_settings(root, target=target, pg_schema=pg_schema)
    from dataclasses import replace

    return replace(settings, person_sources_path=root / "config" / "person_sources.yml")


@pytest.fixture(scope="module")
def duckdb_world(tmp_path_factory, private_dbt_target):
    """The person-source world, built as far as its tests read (PERSON_SOURCES_LAYER). Its builds start dbt in this module's own target folder
    (private_dbt_target), not the project's target/, so the module runs on any pytest-xdist worker.
    Person sources reach dbt as landing tables, not as vars: the project's default dbt configuration,
    whose unit tests the session's main world runs (dbt_unit_tests_run_once)."""
    root = tmp_path_factory.mktemp("person_sources")
    settings = _settings(root)
    _world(settings)
    _declare(settings)
    # The warehouse table lives in the warehouse itself (here: loaded there by some other tool).
    settings.published_db.parent.mkdir(parents=True, exist_ok=True)
    con = duckdb.connect(str(settings.published_db))
    con.execute(f"create schema {LEGACY_SCHEMA}")
    con.execute(
        f"create table {LEGACY_SCHEMA}.loyalty_members as select * from (values "
        "(10, 'Cara Diaz', '003C', 'cara.d@other.org'), (11, 'Hal Hill', null, 'hal@hill.org')"
        ") as t(member_id, name, crm_ref, email)"
    )
    con.close()
    with dbt_unit_tests_run_once():
        result = build(settings, select=PERSON_SOURCES_LAYER)
    assert result.published, result.audit.failures
    return settings


def _query(settings, sql: str) -> list[tuple]:
    return [tuple(row) for row in get_warehouse(settings).query_published(sql)]


def _customer_of(settings, kind: str, value: str) -> str | None:
    rows = _query(
        settings,
        "select customer_id from customer_identifiers "
        f"where identifier_type = '{kind}' and identifier_value = '{value}'",
    )
    return rows[0][0] if rows else None


def _customer_of_record(settings, source: str, table: str, record_id: str) -> str | None:
    rows = _query(
        settings,
        "select customer_id from customer_source_records "
        f"where source_name = '{source}' and table_name = '{table}' and record_id = '{record_id}'",
    )
    return rows[0][0] if rows else None


def test_every_person_source_row_is_staged_or_quarantined_with_a_reason(duckdb_world):
    loaded = _query(
        duckdb_world,
        "select source_name, table_name, count(*) from raw_person_sources.records group by 1, 2 order by 1, 2",
    )
    assert [(s, t) for s, t, _ in loaded] == [
        ("fair", "visitors"),
        ("gym", "members"),
        ("legacy", "loyalty_members"),
    ]
    for source, table, rows in loaded:
        staged = _query(
            duckdb_world,
            f"select count(*) from stg_person_sources__records where source_name = '{source}' and table_name = '{table}'",
        )[0][0]
        quarantined = _query(
            duckdb_world,
            f"select count(*) from quarantined_rows where source_name = '{source}' and table_name = '{table}'",
        )[0][0]
        assert rows == staged + quarantined, (source, table, rows, staged, quarantined)
    reasons = _query(
        duckdb_world,
        "select coalesce(record_id, '-'), quarantine_reason from quarantined_rows "
        "where source_name = 'fair' order by 1, 2",
    )
    assert reasons == [
        ("-", "malformed CSV line (too many columns)"),
        ("-", "missing record id"),
        ("V2", "duplicate record id"),
        ("V5", "no name and no usable identifier"),
    ]
    # A date of birth that is no date (31/02) costs the field, not the record (issue #14): V4 is
    # staged with the date null and the reason beside it.
    assert _query(
        duckdb_world,
        "select date_of_birth, date_of_birth_issue from stg_person_sources__records where record_id = 'V4'",
    ) == [(None, "unparseable date")]
    # The rows are kept as they arrived: the original column names, or the CSV line itself.
    raw = " ".join(
        r
        for (r,) in _query(duckdb_world, "select raw_record from quarantined_rows where source_name = 'fair'")
    )
    assert '"Visitor No"' in raw and "V7,Too,Many" in raw
    # The kept V2 is the first row with that id, not the duplicate.
    assert _query(
        duckdb_world, "select first_name from stg_person_sources__records where record_id = 'V2'"
    ) == [("Dan",)]
    # An empty name with no identifier is quarantined; the gym's second member is.
    assert _query(
        duckdb_world, "select quarantine_reason from quarantined_rows where source_name = 'gym'"
    ) == [("no name and no usable identifier",)]


def test_a_record_sharing_an_email_joins_that_customer(duckdb_world):
    ann = _customer_of(duckdb_world, "shop_customer_id", "100")
    assert ann is not None
    assert _customer_of_record(duckdb_world, "fair", "visitors", "V1") == ann
    first_name, name_source, source_count = _query(
        duckdb_world,
        f"select first_name, name_source, source_count from customers where customer_id = '{ann}'",
    )[0]
    # The shop outranks the fair (priority 2 vs the default 50): its spelling of the name wins.
    assert (first_name, name_source, source_count) == ("Ann", "shop.customers", 2)
    assert _query(
        duckdb_world, "select date_of_birth from stg_person_sources__records where record_id = 'V1'"
    ) == [(dt.date(1990, 2, 3),)]


def test_parquet_and_warehouse_table_sources_join_by_phone_and_external_id(duckdb_world):
    bob = _customer_of(duckdb_world, "shop_customer_id", "101")
    assert _customer_of_record(duckdb_world, "gym", "members", "1") == bob
    assert _query(
        duckdb_world,
        "select first_name, last_name from stg_person_sources__records where source_name = 'gym'",
    ) == [("Bob", "Stone")]
    cara = _customer_of(duckdb_world, "crm_contact_id", "003C")
    assert cara is not None
    assert _customer_of_record(duckdb_world, "legacy", "loyalty_members", "10") == cara
    assert _customer_of(duckdb_world, "email", "cara.d@other.org") == cara
    # A source without a customer of its own becomes a new customer, named from the source.
    hal = _customer_of_record(duckdb_world, "legacy", "loyalty_members", "11")
    assert hal is not None and hal not in (bob, cara)
    assert _query(
        duckdb_world, f"select first_name, last_name, name_source from customers where customer_id = '{hal}'"
    ) == [("Hal", "Hill", "legacy.loyalty_members")]


def test_a_new_external_id_type_gets_default_guard_settings(duckdb_world):
    assert _query(
        duckdb_world,
        "select priority, max_per_customer, max_group_size from int_identity__identifier_types "
        "where identifier_type = 'fair_badge'",
    ) == [(3, 1, None)]
    gil = _customer_of_record(duckdb_world, "fair", "visitors", "V6")
    assert gil is not None and _customer_of(duckdb_world, "fair_badge", "B-6") == gil
    dan = _customer_of(duckdb_world, "email", "dan@new.org")
    assert dan is not None and _customer_of(duckdb_world, "fair_badge", "B-2") == dan
    assert _customer_of(duckdb_world, "phone", "+447700900555") == dan
    # The duplicate row's badge never reaches identity.
    assert _customer_of(duckdb_world, "fair_badge", "B-3") is None


def report_identity(settings) -> dict:
    return warehouse_summary(settings)["identity"]


def test_summary_reports_each_person_source(duckdb_world):
    report = {t["table"]: t for t in warehouse_summary(duckdb_world)["tables"]}
    fair = report["fair.visitors"]
    # V4's bad date of birth costs the field, not the record (issue #14): 4 staged, 4 quarantined.
    assert (fair["loaded"], fair["staged"], fair["quarantined"]) == (8, 4, 4)
    assert report_identity(duckdb_world)["field_issues_by_source"] == {"fair.visitors": 1}
    assert "person_sources.records" not in report


def test_a_dropped_mapped_column_stops_the_load_and_publishes_nothing(duckdb_world):
    folder = duckdb_world.person_sources_path.parent
    original = (folder / "visitors.csv").read_text()
    inode = duckdb_world.published_db.stat().st_ino
    (folder / "visitors.csv").write_text(original.replace(",E-mail,", ",Email,", 1))
    try:
        with pytest.raises(PersonSourceConfigError) as caught, dbt_unit_tests_run_once():
            build(duckdb_world)
    finally:
        (folder / "visitors.csv").write_text(original)
    message = str(caught.value)
    assert (
        "source 'fair'" in message
        and "fields.email" in message
        and "'E-mail' is not in visitors.csv" in message
    )
    assert "did you mean 'Email'" in message
    assert duckdb_world.published_db.stat().st_ino == inode


# ---------------------------------------------------------------- declarations (no warehouse needed)


def _config_error(tmp_path: Path, yaml_text: str, files: dict[str, str] | None = None) -> str:
    settings = _settings(tmp_path)
    settings.person_sources_path.parent.mkdir(parents=True, exist_ok=True)
    settings.person_sources_path.write_text(textwrap.dedent(yaml_text))
    for name, text in (files or {}).items():
        (settings.person_sources_path.parent / name).write_text(text)
    with pytest.raises((PersonSourceConfigError, PersonSourceLoadError)) as caught:
        check_sources(settings)
    return str(caught.value)


SOURCE = """\
person_sources:
  - name: fair
    file: visitors.csv
    record_id: Visitor No
    fields: {first_name: First Name, email: E-mail}
"""


@pytest.mark.parametrize(
    ("yaml_text", "expected"),
    [
        (
            SOURCE.replace("email: E-mail", "emial: E-mail"),
            "source 'fair': fields.emial: unknown standard field",
        ),
        (
            SOURCE.replace("    record_id: Visitor No\n", ""),
            "source 'fair': record_id: required key is missing",
        ),
        (SOURCE.replace("name: fair", "name: crm"), "'crm' is a built-in source name"),
        (SOURCE.replace("name: fair", "name: Trade Fair"), "source 'Trade Fair': name: String should match"),
        (SOURCE + "    table: legacy.members\n", "give exactly one of file"),
        (SOURCE.replace("visitors.csv", "visitors.xlsx"), "must be a .csv or .parquet file"),
        (SOURCE + "    date_format: '%d/%m/%Y'\n", "unknown date_format '%d/%m/%Y'; use one of YYYY-MM-DD"),
        (
            SOURCE + "    external_ids: {email: E-mail}\n",
            "'email' is not an external id: map it under fields",
        ),
        (SOURCE + "    colour: red\n", "source 'fair': colour: unknown key"),
        (
            SOURCE + "identifier_types:\n  email: {priority: 1}\n",
            "identifier_types.email: is in seeds/identifier_types.csv",
        ),
        (SOURCE + SOURCE.removeprefix("person_sources:\n"), "fair.visitors is declared twice"),
        ("person_sources:\n  - name: [unclosed\n", "not valid YAML at line"),
        (
            SOURCE.replace("Visitor No", "Visitor"),
            "record_id: the record-id column 'Visitor' is not in visitors.csv",
        ),
        (
            SOURCE.replace("E-mail", "Email"),
            "fields.email: column 'Email' is not in visitors.csv (did you mean",
        ),
        (SOURCE.replace("visitors.csv", "missing.csv"), "source 'fair': file not found"),
    ],
)
def test_a_wrong_declaration_says_file_source_key_and_why(tmp_path, yaml_text, expected):
    message = _config_error(tmp_path, yaml_text, {"visitors.csv": "Visitor No,First Name,E-mail,EMAIL\n"})
    assert expected in message
    if "YAML" not in expected and "file not found" not in expected and "declared twice" not in expected:
        assert "person_sources.yml" in message


def test_a_missing_warehouse_table_is_refused(duckdb_world):
    from dataclasses import replace

    config = duckdb_world.person_sources_path.parent / "table_only.yml"
    config.write_text(
        "person_sources:\n  - name: old_crm\n    table: legacy.nothing_here\n    record_id: id\n"
        "    fields: {email: email}\n"
    )
    with pytest.raises(PersonSourceConfigError, match="table legacy.nothing_here does not exist"):
        check_sources(replace(duckdb_world, person_sources_path=config))


def test_no_declared_source_loads_empty_landing_tables(tmp_path):
    settings = _settings(tmp_path)
    assert load_config(settings).sources == []
    con = duckdb.connect()
    assert load_duckdb(con, settings) == {}
    columns = {
        name
        for (name,) in con.execute(
            "select column_name from information_schema.columns where table_schema = 'raw_person_sources'"
        ).fetchall()
    }
    assert {"source_name", "record_id", "email", "raw_record", "identifier_type"} <= columns
    assert con.execute("select count(*) from raw_person_sources.records").fetchone() == (0,)


def test_postgres_loader_reads_files_and_tables_in_place(tmp_path):
    """On Postgres files are read by DuckDB and copied in, tables are read where they are; the
    staging and identity SQL on Postgres is covered by tests/test_postgres.py (demo trade fair)."""
    require_postgres()
    import psycopg2

    settings = _settings(tmp_path, target="postgres")
    _declare(settings, schema="person_sources_loader_test")
    con = psycopg2.connect(**PG)
    try:
        with con.cursor() as cur:
            cur.execute("create schema person_sources_loader_test")
            cur.execute(
                "create table person_sources_loader_test.loyalty_members "
                "(member_id integer, name text, crm_ref text, email text)"
            )
            cur.execute(
                "insert into person_sources_loader_test.loyalty_members values "
                "(10, 'Cara Diaz', '003C', 'cara.d@other.org'), (11, 'Hal Hill', null, 'hal@hill.org')"
            )
        counts = load_postgres(con, settings)
        assert counts == {"fair.visitors": 8, "gym.members": 2, "legacy.loyalty_members": 2}
        with con.cursor() as cur:
            cur.execute(
                "select record_id, email, load_error from raw_person_sources.records "
                "where source_name = 'fair' order by row_number"
            )
            rows = cur.fetchall()
            assert rows[0] == ("V1", " Ann.Lee@Mail.org ", None)
            assert rows[-1][2] == "malformed CSV line (too many columns)"
            cur.execute(
                "select record_id, identifier_type, identifier_value, type_priority from raw_person_sources.external_ids "
                "order by 1, 2, 3"
            )
            assert cur.fetchall() == [
                ("10", "crm_contact_id", "003C", None),
                ("V1", "fair_badge", "B-1", 3),
                ("V2", "fair_badge", "B-2", 3),
                ("V2", "fair_badge", "B-3", 3),
                ("V6", "fair_badge", "B-6", 3),
            ]
            cur.execute(
                "select raw_record from raw_person_sources.records where source_name = 'legacy' order by 1"
            )
            assert '"crm_ref": "003C"' in cur.fetchall()[0][0].replace('":"', '": "')
    finally:
        con.rollback()  # the loader commits nothing itself: leave the shared database as it was
        con.close()


def test_demo_trade_fair_joins_existing_customers(published, settings):
    """The demo data's trade-fair file (declared in data/person_sources.yml) in the full Dagster run."""
    con = duckdb.connect(str(settings.published_db), read_only=True)
    loaded = con.execute(
        "select count(*) from raw_person_sources.records where source_name = 'trade_fair'"
    ).fetchone()
    staged = con.execute(
        "select count(*) from stg_person_sources__records where source_name = 'trade_fair'"
    ).fetchone()
    reasons = dict(
        con.execute(
            "select quarantine_reason, row_count from quarantine_summary where source_name = 'trade_fair'"
        ).fetchall()
    )
    assert loaded[0] == staged[0] + sum(reasons.values())
    assert set(reasons) == {
        "missing record id",
        "duplicate record id",
        "no name and no usable identifier",
        "malformed CSV line (too many columns)",
    }
    # The planted bad date of birth, email and phone cost their field, not the record (issue #14).
    issues = {
        field
        for (field,) in con.execute(
            "select distinct field_name from person_record_field_issues where source_name = 'trade_fair'"
        ).fetchall()
    }
    assert issues == {"date_of_birth", "email", "phone"}
    joined, placed = con.execute(
        "select count(distinct customer_id) filter (where source_count > 1), count(*) from customers "
        "where customer_id in (select customer_id from customer_source_records where source_name = 'trade_fair')"
    ).fetchone()
    assert placed > 0.8 * staged[0] / 2 and joined > 0.4 * placed, (joined, placed, staged)


def test_demo_visitor_sheet_is_deterministic_and_declared(tmp_path):
    from orchestration.generate import generate
    from orchestration.generate.trade_fair import FILE

    generate(200, 5, tmp_path / "a")
    generate(200, 5, tmp_path / "b")
    assert (tmp_path / "a" / FILE).read_bytes() == (tmp_path / "b" / FILE).read_bytes()
    settings = _settings(tmp_path)
    from dataclasses import replace

    (source,) = check_sources(replace(settings, data_dir=tmp_path / "a"))
    assert source["source"] == "trade_fair.visitors_2026" and source["checked"]
