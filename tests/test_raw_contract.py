"""Drift stops the source: a raw file that lacks a column staging requires stops the load before any table
changes, so nothing is built or published from it; new columns are kept and reported."""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from orchestration.settings import PROJECT_DIR, Settings
from orchestration.warehouse.raw_contract import RawContractError, check_raw_files, raw_contract
from orchestration.warehouse.registry import get_warehouse
from tests.conftest import TEST_PG_DATABASE, require_postgres
from tests.worlds import SKIP_UNIT_TESTS

CONTRACT_PG_DATABASE = f"{TEST_PG_DATABASE}_contract"


def _contacts(**renamed: str) -> pa.Table:
    """Three CRM contacts with every column the demo export has, some renamed or extra."""
    columns = [
        "contact_id", "first_name", "last_name", "email", "phone", "street", "city", "postcode", "region",
        "country", "job_title", "company", "date_of_birth", "created_at", "updated_at",
    ]  # fmt: skip
    rows = {c: [f"{c}-{i}" for i in range(3)] for c in columns}
    rows["email"] = ["a@example.com", "b@example.com", "c@example.com"]
    rows["created_at"] = rows["updated_at"] = ["2026-01-01 00:00:00"] * 3
    for old, new in renamed.items():
        if new:
            rows[new] = rows.pop(old) if old in rows else ["x"] * 3
        else:
            rows.pop(old)
    return pa.table(rows)


def _write(raw_dir: Path, table: pa.Table) -> None:
    (raw_dir / "crm").mkdir(parents=True, exist_ok=True)
    pq.write_table(table, raw_dir / "crm" / "contacts.parquet")


def _pg_database() -> None:
    import psycopg2

    con = psycopg2.connect(host="127.0.0.1", port=5432, user="postgres", dbname=TEST_PG_DATABASE)
    con.autocommit = True
    try:
        with con.cursor() as cur:
            cur.execute("select 1 from pg_database where datname = %s", (CONTRACT_PG_DATABASE,))
            if cur.fetchone() is None:
                cur.execute(f'create database "{CONTRACT_PG_DATABASE}"')
    finally:
        con.close()
    con = psycopg2.connect(host="127.0.0.1", port=5432, user="postgres", dbname=CONTRACT_PG_DATABASE)
    with con, con.cursor() as cur:
        cur.execute("drop schema if exists raw_crm cascade")
    con.close()


@pytest.fixture(params=["duckdb", "postgres"])
def world(request, tmp_path: Path) -> Settings:
    """Settings of an empty warehouse of each kind, with raw files in tmp_path/data/raw."""
    env = {
        "TESSERA_TARGET": request.param,
        "TESSERA_DATA_DIR": str(tmp_path / "data"),
        "TESSERA_WAREHOUSE": str(tmp_path / "warehouse" / "tessera.duckdb"),
        "TESSERA_BUILD_DB": str(tmp_path / "warehouse" / "build" / "tessera.duckdb"),
        "TESSERA_PERSON_SOURCES": str(tmp_path / "person_sources.yml"),
        "TESSERA_PG_DATABASE": CONTRACT_PG_DATABASE,
        "TESSERA_PG_BUILD_SCHEMA": "contract_build",
        "TESSERA_PG_SCHEMA": "contract_published",
    }
    if request.param == "postgres":
        require_postgres()
        _pg_database()
    return Settings.from_env(env)


def _publish_without_dbt(settings: Settings) -> None:
    """What a passed build leaves behind for this test: the loaded raw tables, published."""
    if settings.target == "duckdb":
        settings.published_db.parent.mkdir(parents=True, exist_ok=True)
        shutil.move(settings.build_db, settings.published_db)
    # On Postgres the raw_* schemas are loaded in place: they are what published staging reads.


def _raw_contacts(settings: Settings) -> tuple[list[str], int]:
    """raw_crm.contacts as readers see it: (columns, rows)."""
    if settings.target == "duckdb":
        import duckdb

        con = duckdb.connect(str(settings.published_db), read_only=True)
        try:
            columns = [r[0] for r in con.execute("describe raw_crm.contacts").fetchall()]
            rows = con.execute("select count(*) from raw_crm.contacts").fetchone()[0]  # type: ignore[index]
        finally:
            con.close()
        return columns, rows
    import psycopg2

    con = psycopg2.connect(**settings.postgres.connect_kwargs())
    try:
        with con.cursor() as cur:
            cur.execute(
                "select column_name from information_schema.columns where table_schema = 'raw_crm' "
                "and table_name = 'contacts' order by ordinal_position"
            )
            columns = [r[0] for r in cur.fetchall()]
            cur.execute("select count(*) from raw_crm.contacts")
            rows = cur.fetchone()[0]
    finally:
        con.close()
    return columns, rows


def _fingerprint(settings: Settings) -> str:
    if settings.target == "duckdb":
        return hashlib.sha256(settings.published_db.read_bytes()).hexdigest()
    return repr(_raw_contacts(settings))


def test_renamed_required_column_stops_the_build_and_names_it(world: Settings, monkeypatch) -> None:
    from orchestration.build import pipeline

    warehouse = get_warehouse(world)
    _write(world.raw_dir, _contacts())
    warehouse.prepare_build()
    warehouse.load_raw(world.raw_dir)
    _publish_without_dbt(world)
    before = _fingerprint(world)

    # The CRM renames `email`: before the contract, one drift warning and a build that passed.
    _write(world.raw_dir, _contacts(email="email_address").append_column("extra", pa.array([1, 2, 3])))

    def dbt_must_not_run(*args, **kwargs):  # type: ignore[no-untyped-def]
        raise AssertionError("dbt ran on a raw table that lacks a required column")

    monkeypatch.setattr(pipeline, "build_models", dbt_must_not_run)
    with pytest.raises(RawContractError) as refused:
        pipeline.build(world)
    message = str(refused.value)
    assert "crm.contacts" in message and "'email'" in message and "email_address" in message
    assert "\n" not in message
    assert [(m.source, m.table, m.column) for m in refused.value.missing] == [("crm", "contacts", "email")]
    # Nothing readers see changed: the published file (DuckDB), the raw table staging reads (Postgres).
    assert _fingerprint(world) == before
    columns, rows = _raw_contacts(world)
    assert "email" in columns and "email_address" not in columns and rows == 3


def test_new_column_is_kept_and_reported_optional_column_kept_null(world: Settings) -> None:
    warehouse = get_warehouse(world)
    _write(world.raw_dir, _contacts())
    warehouse.prepare_build()
    warehouse.load_raw(world.raw_dir)
    _publish_without_dbt(world)

    # A new column, and the optional `job_title` gone: the load goes on and says so.
    _write(world.raw_dir, _contacts(job_title="", lead_source="lead_source"))
    warehouse.prepare_build()
    loads = {(load.source, load.table): load for load in warehouse.load_raw(world.raw_dir)}
    crm = loads[("crm", "contacts")]
    assert crm.columns_added == ["lead_source"]
    assert crm.columns_missing == ["job_title"]
    _publish_without_dbt(world)
    columns, rows = _raw_contacts(world)
    assert {"lead_source", "job_title", "email"} <= set(columns) and rows == 3


def test_new_column_with_a_hostile_name_is_kept_as_a_name(world: Settings) -> None:
    hostile = 'note"; drop schema raw_crm cascade; --'
    warehouse = get_warehouse(world)
    _write(world.raw_dir, _contacts())
    warehouse.prepare_build()
    warehouse.load_raw(world.raw_dir)
    _publish_without_dbt(world)
    _write(world.raw_dir, _contacts().append_column(hostile, pa.array(["a", "b", "c"])))
    warehouse.prepare_build()
    loads = {(load.source, load.table): load for load in warehouse.load_raw(world.raw_dir)}
    assert loads[("crm", "contacts")].columns_added == [hostile]
    _publish_without_dbt(world)
    columns, rows = _raw_contacts(world)
    assert hostile in columns and rows == 3


def test_optional_column_absent_from_the_first_load_is_added_null(world: Settings) -> None:
    warehouse = get_warehouse(world)
    _write(world.raw_dir, _contacts(company=""))
    warehouse.prepare_build()
    loads = {(load.source, load.table): load for load in warehouse.load_raw(world.raw_dir)}
    assert loads[("crm", "contacts")].columns_missing == ["company"]
    _publish_without_dbt(world)
    assert "company" in _raw_contacts(world)[0]


def test_a_file_missing_from_a_delivery_keeps_the_table_an_earlier_build_loaded(world: Settings) -> None:
    warehouse = get_warehouse(world)
    _write(world.raw_dir, _contacts())
    warehouse.prepare_build()
    warehouse.load_raw(world.raw_dir)
    _publish_without_dbt(world)

    # The next delivery lacks the CRM's file: its contacts must not become an empty table.
    (world.raw_dir / "crm" / "contacts.parquet").unlink()
    warehouse.prepare_build()
    loads = {(load.source, load.table): load for load in warehouse.load_raw(world.raw_dir)}
    assert loads[("crm", "contacts")].rows == 3
    _publish_without_dbt(world)
    columns, rows = _raw_contacts(world)
    assert "email" in columns and rows == 3


def test_every_demo_file_meets_the_contract(demo_data, settings: Settings) -> None:
    from orchestration.warehouse.load import raw_files

    files = raw_files(settings.raw_dir)
    contracts = raw_contract()
    # Every built-in table the demo writes is declared, with its required columns, and the demo meets it.
    assert {(source, table) for source, table, _ in files} == set(contracts)
    assert all(contract.required for contract in contracts.values())
    check_raw_files(files, contracts)


def test_contract_matches_what_staging_reads(demo_data, settings: Settings) -> None:
    """Each declared column is read by its base model, and each column of the demo file the base model
    reads is declared: the YAML cannot drift from staging unnoticed."""
    from orchestration.warehouse.load import raw_files

    segment = "".join(
        path.read_text() for path in sorted((PROJECT_DIR / "macros" / "staging").glob("segment_*.sql"))
    )
    for source, table, path in raw_files(settings.raw_dir):
        contract = raw_contract()[(source, table)]
        sql = (
            PROJECT_DIR / "models" / "staging" / source / "base" / f"base_{source}__{table}.sql"
        ).read_text()
        if "segment_common_columns" in sql:
            sql += segment
        sql = re.sub(r"\{#.*?#\}|--[^\n]*", "", sql, flags=re.S)
        words = set(re.findall(r"[A-Za-z_][A-Za-z0-9_]*", sql))
        assert [c for c in contract.declared if c not in words] == [], (source, table)
        read_but_undeclared = [
            c
            for c in pq.read_schema(path).names
            if c in words and c not in contract.declared and c != "_loaded_at" and c != "source"
        ]
        assert read_but_undeclared == [], (source, table)


def _cli_world(tmp_path: Path, customers: int = 20, seed: int = 5) -> tuple[dict[str, str], Settings]:
    """The environment of a `tessera` run in tmp_path, with its demo data generated (and marked as such):
    a few customers are enough, the stores are reference data and every raw table has rows.
    dbt's parse and run files go to a target folder in tmp_path (DBT_TARGET_PATH), not the project's
    target/, which the session's Dagster tests read on their one pytest-xdist worker: so these tests
    run on any worker. Its first parse is a whole one, as it was from the project's: the parse there
    was for the session's warehouse file, and dbt parses again for another. The project's default
    configuration, so a build leaves out the dbt unit tests, which the session's published world runs
    (tests/worlds.py)."""
    from orchestration.generate import generate

    env = {
        **os.environ,
        **SKIP_UNIT_TESTS,
        "DBT_TARGET_PATH": str(tmp_path / "dbt_target"),
        "TESSERA_TARGET": "duckdb",
        "TESSERA_DATA_DIR": str(tmp_path / "data"),
        "TESSERA_WAREHOUSE": str(tmp_path / "warehouse" / "tessera.duckdb"),
        "TESSERA_BUILD_DB": str(tmp_path / "warehouse" / "build" / "tessera.duckdb"),
        "TESSERA_PERSON_SOURCES": str(tmp_path / "person_sources.yml"),
        "TESSERA_SYNCS_FILE": str(tmp_path / "syncs.yml"),
        "DAGSTER_HOME": str(tmp_path / "dagster_home"),
    }
    (tmp_path / "syncs.yml").write_text("syncs: []\n")
    (tmp_path / "dagster_home").mkdir()
    shutil.copyfile(PROJECT_DIR / ".dagster" / "dagster.yaml", tmp_path / "dagster_home" / "dagster.yaml")
    settings = Settings.from_env(env)
    generate(customers=customers, seed=seed, out=settings.data_dir)
    (settings.data_dir / "generated.json").write_text(f'{{"customers": {customers}, "seed": {seed}}}')
    return env, settings


def _tessera_run(env: dict[str, str], *options: str) -> tuple[int, list[str], str]:
    """`tessera [options] run` on the generated data: exit code, non-blank lines of stdout (where the CLI
    prints; logging goes to stderr), and stdout and stderr together."""
    run = subprocess.run(
        [
            str(Path(sys.executable).with_name("tessera")),
            *options,
            "run",
        ],
        env=env,
        capture_output=True,
        text=True,
        timeout=900,
        cwd=PROJECT_DIR,
    )
    output = run.stdout + run.stderr
    return run.returncode, [line for line in run.stdout.splitlines() if line.strip()], output


def test_tessera_run_names_the_missing_column_and_publishes_nothing(tmp_path: Path) -> None:
    env, settings = _cli_world(tmp_path)
    contacts = pq.read_table(settings.raw_dir / "crm" / "contacts.parquet")
    pq.write_table(
        contacts.rename_columns(["email_address" if c == "email" else c for c in contacts.column_names]),
        settings.raw_dir / "crm" / "contacts.parquet",
    )
    code, lines, output = _tessera_run(env)
    assert code == 1, output
    assert "Traceback" not in output
    # Quiet by default: the outcome and its cause, not Dagster's log or dbt's command lines.
    assert "Running dbt command" not in output and "STEP_FAILURE" not in output
    # The last line is the cause: source, table and column, on one line.
    assert lines[-1].startswith("cause: raw table crm.contacts has no column 'email'"), output
    assert "nothing was published" in lines[-2]
    assert not settings.published_db.exists()
    # -v shows what the default hides.
    code, _, verbose = _tessera_run(env, "-v")
    assert code == 1 and "Running dbt command" in verbose, verbose


def test_failed_build_ends_with_the_first_failing_dbt_node(tmp_path: Path) -> None:
    """A gating dbt test fails: the last line names that node and dbt's message, not the Dagster step."""
    env, settings = _cli_world(tmp_path)
    stores = settings.raw_dir / "pos" / "stores.parquet"
    table = pq.read_table(stores)
    pq.write_table(pa.concat_tables([table, table.slice(0, 1)]), stores)
    code, lines, output = _tessera_run(env)
    assert code == 1, output
    assert "Traceback" not in output and "Running dbt command" not in output and " START " not in output
    cause = lines[-1]
    assert cause.startswith("cause: dbt test.tessera.") and "stg_pos__stores" in cause, output
    assert "fail: Got 1 result" in cause, output
    assert not settings.published_db.exists()
    # dbt's own log is kept for a person to read, not lost.
    assert any(line.startswith("dbt's output: ") for line in lines), output
    assert "unique_stg_pos__stores_store_id" in (settings.build_db.parent / "last_run.log").read_text()


def test_contract_reads_meta_under_config(tmp_path: Path) -> None:
    """dbt accepts column meta at the top level or under `config:`; both mark a column required."""
    staging = tmp_path / "models" / "staging" / "x"
    staging.mkdir(parents=True)
    (staging / "_x__sources.yml").write_text(
        "version: 2\nsources:\n  - name: x\n    schema: raw_x\n    tables:\n      - name: t\n        columns:\n"
        "          - {name: a, meta: {required: true}}\n          - {name: b, config: {meta: {required: true}}}\n"
        "          - {name: c}\n  - name: y\n    schema: retained\n    tables: [{name: u}]\n"
    )
    contracts = raw_contract(tmp_path / "models")
    assert list(contracts) == [("x", "t")]
    assert contracts[("x", "t")].required == ("a", "b") and contracts[("x", "t")].optional == ("c",)
