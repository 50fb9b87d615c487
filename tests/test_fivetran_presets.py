"""The Fivetran presets of the crm, support and esp sources: HubSpot contacts (`fivetran_hubspot`), Zendesk
tickets, users and satisfaction ratings (`fivetran_zendesk`) and Klaviyo events, people and metrics
(`fivetran_klaviyo`) as Fivetran's connectors land them (tests/fivetran_world.py) are read in place and staged
into the contracts the demo presets feed, on DuckDB (the whole pipeline, into the customers) and on Postgres
(staging). One world declares every preset, so this module builds it once per warehouse."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator

import pytest

from orchestration.settings import Settings
from tests import fivetran_world
from tests.conftest import require_postgres

_S, _B, _T, _D = "VARCHAR", "BOOLEAN", "TIMESTAMP", "DATE"
#: base_crm__contacts' columns and DuckDB types as the demo preset builds them (the staging contract).
CRM_CONTRACT = [
    ("crm_contact_id", _S), ("first_name", _S), ("last_name", _S), ("first_name_key", _S), ("last_name_key", _S),
    ("email_raw", _S), ("email", _S), ("phone_raw", _S), ("phone", _S), ("street", _S), ("city", _S),
    ("postcode", _S), ("region", _S), ("country_code", _S), ("job_title", _S), ("company_name", _S),
    ("date_of_birth", _D), ("date_of_birth_issue", _S), ("created_at", _T), ("updated_at", _T), ("loaded_at", _T),
    ("is_valid_email", _B), ("is_junk_email", _B), ("is_junk_phone", _B), ("email_issue", _S), ("phone_issue", _S),
    ("quarantine_reason", _S),
]  # fmt: skip


@pytest.fixture(scope="module")
def duckdb_build(tmp_path_factory: pytest.TempPathFactory) -> Settings:
    return fivetran_world.build_duckdb(tmp_path_factory.mktemp("fivetran-world"))


@pytest.fixture(scope="module")
def postgres_build(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Settings]:
    require_postgres()
    settings = fivetran_world.build_postgres(tmp_path_factory.mktemp("fivetran-world-pg"))
    yield settings
    fivetran_world.drop_postgres(settings)


# -- crm: fivetran_hubspot ------------------------------------------------------------------------------------


def _query(settings: Settings, sql: str) -> list[tuple[object, ...]]:
    return fivetran_world.query_duckdb(settings, sql)


def test_hubspot_contacts_land_in_the_demo_staging_contract(duckdb_build: Settings) -> None:
    assert fivetran_world.columns(duckdb_build, "base_crm__contacts") == CRM_CONTRACT


def test_hubspot_properties_are_staged_and_normalised(duckdb_build: Settings) -> None:
    assert _query(
        duckdb_build,
        "select crm_contact_id, first_name, last_name_key, email, phone, street, city, postcode, region, "
        "country_code, job_title, company_name, date_of_birth, date_of_birth_issue, created_at, updated_at, "
        "loaded_at from stg_crm__contacts order by 1",
    ) == [
        ("101", "Ann", "lee", "ann.lee@fastmail.com", "+447700900123", "12 Mill Lane", "Leeds", "LS14AP",
         "West Yorkshire", "GB", "Engineer", "Acme", dt.date(1990, 5, 17), None, dt.datetime(2025, 3, 1, 9),
         dt.datetime(2025, 3, 5, 9), dt.datetime(2025, 4, 2, 6)),
        # the mobile number when the phone property is blank; a country name is no ISO code; a date of birth
        # that is not a date is an issue of that field only; no last-modified date: the create date
        ("103", "Cara", "diaz", "cara.diaz@gmail.com", "+447700900456", None, "York", None, None, None, None,
         None, None, "unparseable date", dt.datetime(2025, 3, 1, 11), dt.datetime(2025, 3, 1, 11),
         dt.datetime(2025, 4, 2, 6)),
    ]  # fmt: skip


def test_deleted_and_merged_contacts_are_counted_not_staged(duckdb_build: Settings) -> None:
    assert _query(
        duckdb_build,
        "select record_id, quarantine_reason from quarantined_rows where source_name = 'crm' order by 1",
    ) == [("102", "deleted in source"), ("104", "merged in source")]
    assert _query(duckdb_build, "select count(*) from customers where email = 'dan.roe@proton.me'") == [(0,)]


def test_hubspot_contacts_reach_the_customers(duckdb_build: Settings) -> None:
    [(customer_id, first, last, email, phone, city)] = _query(
        duckdb_build,
        "select customer_id, first_name, last_name, email, phone, city from customers "
        "where email = 'ann.lee@fastmail.com'",
    )
    assert (first, last, phone, city) == ("Ann", "Lee", "+447700900123", "Leeds")
    assert _query(
        duckdb_build,
        "select customer_id from customer_source_records where source_name = 'crm' and record_id = '101'",
    ) == [(customer_id,)]
    assert _query(
        duckdb_build,
        "select count(*) from customer_source_records where source_name = 'crm' and record_id in ('102', '104')",
    ) == [(0,)]


def test_postgres_stages_the_same_contacts(postgres_build: Settings) -> None:
    settings = postgres_build
    assert fivetran_world.query_postgres(
        settings,
        "select crm_contact_id, email, phone, country_code, date_of_birth, created_at, loaded_at "
        "from {build}.stg_crm__contacts order by 1",
    ) == [
        ("101", "ann.lee@fastmail.com", "+447700900123", "GB", dt.date(1990, 5, 17), dt.datetime(2025, 3, 1, 9),
         dt.datetime(2025, 4, 2, 6)),
        ("103", "cara.diaz@gmail.com", "+447700900456", None, None, dt.datetime(2025, 3, 1, 11),
         dt.datetime(2025, 4, 2, 6)),
    ]  # fmt: skip
    assert fivetran_world.query_postgres(
        settings,
        "select crm_contact_id, quarantine_reason from {build}.base_crm__contacts "
        "where quarantine_reason is not null order by 1",
    ) == [("102", "deleted in source"), ("104", "merged in source")]
