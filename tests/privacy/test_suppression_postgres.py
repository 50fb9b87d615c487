"""Suppression on Postgres: a suppressed identifier's rows are quarantined as `suppressed`, without their data."""

from __future__ import annotations

import uuid

import psycopg2

from orchestration.build.pipeline import run_dbt
from orchestration.privacy.erase import set_suppression
from orchestration.privacy.ledger import Ledger, ledger_path
from orchestration.warehouse.audit import Audit
from orchestration.warehouse.connection import writer_lock
from orchestration.warehouse.registry import get_warehouse
from tests.conftest import TEST_PG_DATABASE, require_postgres
from tests.worlds import crm_contact, shop_customer, world_settings, write_world

PG = {"host": "127.0.0.1", "port": 5432, "user": "postgres", "dbname": TEST_PG_DATABASE, "connect_timeout": 3}


def test_postgres_build_quarantines_a_suppressed_person(tmp_path):
    require_postgres()
    schema = f"privacy_sup_{uuid.uuid4().hex[:8]}"
    settings = world_settings(tmp_path, target="postgres", pg_schema=schema)
    write_world(
        settings.data_dir,
        {
            "shop.customers": [
                shop_customer(1, "Ann", "Erased", " Ann@Mail.net"),
                shop_customer(2, "Bob", "Kept", "bob@mail.net"),
            ],
            "crm.contacts": [crm_contact("c1", "Ann", "Erased", "ann@mail.net", "07700 900123")],
        },
    )
    try:
        result = set_suppression(settings, "email:ann@mail.net", suppress=True)
        assert result.status == "completed"
        # Staging and the quarantine only (identity and the marts are not needed to show it), in the build
        # schema, which starts from the published one and so holds the list.
        warehouse = get_warehouse(settings)
        with writer_lock(settings):
            warehouse.prepare_build()
            warehouse.load_raw(settings.raw_dir)
            selection = ["+quarantined_rows", "stg_shop__customers", "stg_crm__contacts"]
            audit = Audit.from_run_results(
                run_dbt(settings, ["build", "--indirect-selection", "cautious", "--select", *selection])
            )
        assert audit.passed, audit.failures
        with psycopg2.connect(**PG) as con, con.cursor() as cur:
            cur.execute(f"set search_path to {schema}_build")
            cur.execute(
                "select source_name, record_id, raw_record from quarantined_rows "
                "where quarantine_reason = 'suppressed' order by 1"
            )
            rows = cur.fetchall()
            assert [r[0] for r in rows] == ["crm", "shop"]
            assert all(r[1].startswith("sha256:") and r[2] is None for r in rows)
            cur.execute(
                "select first_name from stg_shop__customers union all select first_name from stg_crm__contacts"
            )
            assert cur.fetchall() == [("Bob",)]
            cur.execute("select count(*) from quarantined_rows where raw_record like '%ann@mail.net%'")
            assert cur.fetchone()[0] == 0
        with Ledger(ledger_path(settings)) as ledger:
            assert len(ledger.suppression_list()) == 1
    finally:
        with psycopg2.connect(**PG) as con, con.cursor() as cur:
            cur.execute(f"drop schema if exists {schema} cascade")
            cur.execute(f"drop schema if exists {schema}_build cascade")
