"""A tiny company whose CRM, support desk, email tool and shop reach the warehouse through Fivetran's
connectors, written by hand from the shapes of Fivetran's documentation and of its dbt source packages'
integration-test seeds (not from our generator, and copying none of their files): one schema per connector, one
table per object keyed by the object's `id`, `_fivetran_synced` (when the row was written) on every table and
`_fivetran_deleted` where the source deletes records. The shop is tests/shopify_world.py. The same people appear
in every system, so a test can follow them into identity. All the presets are declared at once, so one build
per warehouse serves every preset's tests (tests/test_fivetran_presets.py)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import duckdb
import pytest

from orchestration.build.pipeline import build, run_dbt
from orchestration.settings import Settings
from orchestration.source_presets import PRESETS_FILE_ENV
from orchestration.warehouse.registry import get_warehouse
from tests import shopify_world
from tests.worlds import world_settings, write_world

SYNCED = "2025-04-02 06:00:00"

# -- HubSpot (`crm: fivetran_hubspot`): the contact table, every property a `property_<name>` column. ------
HUBSPOT_SCHEMA = "hubspot_prod"
HUBSPOT_TABLES: dict[str, str] = {
    "contact": (
        "id bigint, property_email varchar, property_firstname varchar, property_lastname varchar, "
        "property_phone varchar, property_mobilephone varchar, property_address varchar, property_city varchar, "
        "property_zip varchar, property_state varchar, property_country varchar, "
        "property_hs_country_region_code varchar, property_jobtitle varchar, property_company varchar, "
        "property_date_of_birth varchar, property_lifecyclestage varchar, property_annualrevenue bigint, "
        "property_createdate timestamp, property_lastmodifieddate timestamp, "
        "property_hs_calculated_merged_vids varchar, property_hs_merged_object_ids varchar, is_deleted boolean, "
        "_fivetran_synced timestamp, _fivetran_deleted boolean"
    ),
}
# Ann (101) is a live contact; a second record of her (104) was merged into 101 in HubSpot, which lists it in
# 101's merged vids (id:epoch-ms) while the connector still holds its row. Dan (102) was deleted in HubSpot:
# the connector keeps his row, soft-deleted. Cara (103) has only a mobile number and her country as text; her
# older record (105) was merged into hers, listed in the newer hs_merged_object_ids ("id;id").
HUBSPOT_ROWS: dict[str, list[dict[str, Any]]] = {
    "contact": [
        {"id": 101, "property_email": " Ann.Lee@Fastmail.com", "property_firstname": "Ann", "property_lastname": "Lee",
         "property_phone": "07700 900123", "property_mobilephone": None, "property_address": "12 Mill Lane",
         "property_city": "Leeds", "property_zip": "ls1 4ap", "property_state": "West Yorkshire",
         "property_country": "United Kingdom", "property_hs_country_region_code": "gb",
         "property_jobtitle": "Engineer", "property_company": "Acme", "property_date_of_birth": "1990-05-17",
         "property_lifecyclestage": "customer", "property_annualrevenue": 100000,
         "property_createdate": "2025-03-01 09:00:00", "property_lastmodifieddate": "2025-03-05 09:00:00",
         "property_hs_calculated_merged_vids": "104:1741165200000", "is_deleted": False,
         "_fivetran_synced": SYNCED, "_fivetran_deleted": False},
        {"id": 102, "property_email": "dan.roe@proton.me", "property_firstname": "Dan", "property_lastname": "Roe",
         "property_phone": None, "property_mobilephone": None, "property_country": "GB",
         "property_createdate": "2025-03-01 10:00:00", "property_lastmodifieddate": "2025-03-03 10:00:00",
         "is_deleted": None, "_fivetran_synced": SYNCED, "_fivetran_deleted": True},
        {"id": 103, "property_email": "cara.diaz@gmail.com", "property_firstname": "Cara", "property_lastname": "Diaz",
         "property_phone": " ", "property_mobilephone": "+44 7700 900456", "property_city": "York",
         "property_country": "United Kingdom", "property_date_of_birth": "not a date",
         "property_createdate": "2025-03-01 11:00:00", "property_lastmodifieddate": None,
         "property_hs_merged_object_ids": "99;105", "is_deleted": False, "_fivetran_synced": SYNCED,
         "_fivetran_deleted": None},
        {"id": 104, "property_email": "ann.lee@fastmail.com", "property_firstname": "Anne", "property_lastname": "Lee",
         "property_phone": None, "property_country": "GB",
         "property_createdate": "2025-02-01 09:00:00", "property_lastmodifieddate": "2025-03-05 09:00:00",
         "is_deleted": False, "_fivetran_synced": SYNCED, "_fivetran_deleted": False},
        {"id": 105, "property_email": "cara.diaz@gmail.com", "property_firstname": "Cara", "property_lastname": "D",
         "property_createdate": "2025-02-20 11:00:00", "property_lastmodifieddate": "2025-03-01 11:00:00",
         "is_deleted": False, "_fivetran_synced": SYNCED, "_fivetran_deleted": False},
    ],
}  # fmt: skip

# -- Zendesk Support (`support: fivetran_zendesk`): ticket, user, satisfaction_rating. ------------------------
ZENDESK_SCHEMA = "zendesk_prod"
ZENDESK_TABLES: dict[str, str] = {
    "ticket": (
        "id bigint, requester_id bigint, submitter_id bigint, assignee_id bigint, organization_id bigint, "
        "group_id bigint, brand_id bigint, subject varchar, description varchar, status varchar, priority varchar, "
        "type varchar, via_channel varchar, via_source_from_address varchar, is_public boolean, "
        "merged_ticket_ids varchar, due_at timestamp, created_at timestamp, updated_at timestamp, url varchar, "
        "_fivetran_synced timestamp, _fivetran_deleted boolean"
    ),
    "user": (
        "id bigint, name varchar, email varchar, phone varchar, role varchar, active boolean, verified boolean, "
        "suspended boolean, locale varchar, time_zone varchar, organization_id bigint, external_id varchar, "
        "created_at timestamp, updated_at timestamp, last_login_at timestamp, url varchar, "
        "_fivetran_synced timestamp, _fivetran_deleted boolean"
    ),
    "satisfaction_rating": (
        "id bigint, ticket_id bigint, requester_id bigint, assignee_id bigint, group_id bigint, score varchar, "
        "comment varchar, reason varchar, reason_id bigint, created_at timestamp, updated_at timestamp, "
        "url varchar, _fivetran_synced timestamp"
    ),
}
# Ann (user 9001) raised two tickets, one on hold, and rated the first good (the second's survey is offered,
# not answered). Dan's user (9002) was deleted in Zendesk, so his ticket and rating go with him. Eve (9004)
# is only in Zendesk: one solved ticket rated bad, and one Zendesk deleted (status deleted). An agent (9003)
# answers tickets but raises none.
ZENDESK_ROWS: dict[str, list[dict[str, Any]]] = {
    "user": [
        {"id": 9001, "name": "Ann Lee", "email": "ann.lee@fastmail.com", "phone": "+44 7700 900123",
         "role": "end-user", "active": True, "created_at": "2025-03-01 12:00:00", "updated_at": "2025-03-01 12:00:00",
         "_fivetran_synced": SYNCED, "_fivetran_deleted": False},
        {"id": 9002, "name": "Dan Roe", "email": "dan.roe@proton.me", "phone": None, "role": "end-user",
         "active": False, "created_at": "2025-03-01 12:00:00", "updated_at": "2025-03-09 12:00:00",
         "_fivetran_synced": SYNCED, "_fivetran_deleted": True},
        {"id": 9003, "name": "Sam Agent", "email": "sam@support.example.com", "phone": None, "role": "agent",
         "active": True, "created_at": "2024-01-01 12:00:00", "updated_at": "2024-01-01 12:00:00",
         "_fivetran_synced": SYNCED, "_fivetran_deleted": False},
        {"id": 9004, "name": " Eve  Tran", "email": "Eve.Tran@Outlook.com", "phone": None, "role": "end-user",
         "active": True, "created_at": "2025-03-02 12:00:00", "updated_at": "2025-03-02 12:00:00",
         "_fivetran_synced": SYNCED, "_fivetran_deleted": None},
    ],
    "ticket": [
        {"id": 5001, "requester_id": 9001, "submitter_id": 9001, "assignee_id": 9003, "subject": "Late parcel",
         "status": "open", "priority": "normal", "type": "question", "via_channel": "email",
         "created_at": "2025-03-06 08:00:00", "updated_at": "2025-03-06 09:00:00", "_fivetran_synced": SYNCED,
         "_fivetran_deleted": False},
        {"id": 5002, "requester_id": 9001, "submitter_id": 9001, "assignee_id": 9003, "subject": "Wrong size",
         "status": "hold", "priority": None, "type": None, "via_channel": "voice",
         "created_at": "2025-03-07 08:00:00", "updated_at": "2025-03-07 09:00:00", "_fivetran_synced": SYNCED,
         "_fivetran_deleted": False},
        {"id": 5003, "requester_id": 9002, "submitter_id": 9002, "assignee_id": 9003, "subject": "Refund",
         "status": "solved", "priority": "high", "via_channel": "web", "created_at": "2025-03-04 08:00:00",
         "updated_at": "2025-03-05 08:00:00", "_fivetran_synced": SYNCED, "_fivetran_deleted": False},
        {"id": 5004, "requester_id": 9004, "submitter_id": 9004, "assignee_id": 9003, "subject": "Broken zip",
         "status": "solved", "priority": "low", "via_channel": "web", "created_at": "2025-03-02 13:00:00",
         "updated_at": "2025-03-03 08:00:00", "_fivetran_synced": SYNCED, "_fivetran_deleted": None},
        {"id": 5005, "requester_id": 9004, "submitter_id": 9004, "subject": "spam", "status": "deleted",
         "via_channel": "email", "created_at": "2025-03-02 14:00:00", "updated_at": "2025-03-02 15:00:00",
         "_fivetran_synced": SYNCED, "_fivetran_deleted": False},
    ],
    "satisfaction_rating": [
        {"id": 7001, "ticket_id": 5001, "requester_id": 9001, "assignee_id": 9003, "score": "good",
         "comment": "Quick reply", "created_at": "2025-03-06 10:00:00", "updated_at": "2025-03-08 10:00:00",
         "_fivetran_synced": SYNCED},
        {"id": 7002, "ticket_id": 5002, "requester_id": 9001, "assignee_id": 9003, "score": "offered",
         "created_at": "2025-03-07 10:00:00", "updated_at": "2025-03-07 10:00:00", "_fivetran_synced": SYNCED},
        {"id": 7003, "ticket_id": 5003, "requester_id": 9002, "assignee_id": 9003, "score": "good",
         "created_at": "2025-03-05 10:00:00", "updated_at": "2025-03-05 11:00:00", "_fivetran_synced": SYNCED},
        {"id": 7004, "ticket_id": 5004, "requester_id": 9004, "assignee_id": 9003, "score": "bad",
         "comment": "Still broken", "reason": "The issue took too long to resolve", "reason_id": 1001,
         "created_at": "2025-03-03 10:00:00", "updated_at": "2025-03-04 10:00:00", "_fivetran_synced": SYNCED},
    ],
}  # fmt: skip

# -- Klaviyo (`esp: fivetran_klaviyo`): event, person, metric, campaign, flow. --------------------------------
KLAVIYO_SCHEMA = "klaviyo_prod"
KLAVIYO_TABLES: dict[str, str] = {
    "event": (
        "id varchar, person_id varchar, metric_id varchar, campaign_id varchar, flow_id varchar, "
        'flow_message_id varchar, uuid varchar, datetime timestamp, "timestamp" timestamp, type varchar, '
        "_variation varchar, property_value varchar, property_url varchar, property_subject varchar, "
        "property_email_domain varchar, property_bounce_type varchar, property_campaign_name varchar, "
        "_fivetran_synced timestamp, _fivetran_deleted boolean"
    ),
    "person": (
        "id varchar, email varchar, phone_number varchar, first_name varchar, last_name varchar, "
        "address_1 varchar, address_2 varchar, city varchar, zip varchar, region varchar, country varchar, "
        "organization varchar, title varchar, timezone varchar, created timestamp, updated timestamp, "
        "last_event_date timestamp, _fivetran_synced timestamp, _fivetran_deleted boolean"
    ),
    "metric": (
        "id varchar, name varchar, integration_id varchar, integration_name varchar, "
        "integration_category varchar, created timestamp, updated timestamp, _fivetran_synced timestamp, "
        "_fivetran_deleted boolean"
    ),
    "campaign": (
        "id varchar, name varchar, subject varchar, status varchar, campaign_type varchar, from_email varchar, "
        "send_time timestamp, sent_at timestamp, created timestamp, updated timestamp, archived boolean, "
        "_fivetran_synced timestamp, _fivetran_deleted boolean"
    ),
    "flow": (
        "id varchar, name varchar, status varchar, trigger_type varchar, created timestamp, updated timestamp, "
        "archived boolean, _fivetran_synced timestamp, _fivetran_deleted boolean"
    ),
}
_KLAVIYO = {"integration_id": "0rG4eQ", "integration_name": "Klaviyo", "integration_category": "Internal",
            "_fivetran_synced": SYNCED, "_fivetran_deleted": False}  # fmt: skip
# Ann's profile got the Spring Sale campaign, opened it and clicked; she also placed an order (a metric that
# is not email, so not staged); her unsubscribe was deleted in Klaviyo. Fay is only in Klaviyo: the welcome
# flow reached her once and bounced once, and she unsubscribed in an older sync whose event names its metric
# only in `type`. Dan's profile was deleted in Klaviyo, and with it the campaign he received.
KLAVIYO_ROWS: dict[str, list[dict[str, Any]]] = {
    "person": [
        {"id": "01HANN", "email": "Ann.Lee@fastmail.com", "first_name": "Ann", "last_name": "Lee",
         "city": "Leeds", "country": "United Kingdom", "created": "2025-03-01 09:30:00",
         "updated": "2025-03-10 09:00:00", "_fivetran_synced": SYNCED, "_fivetran_deleted": False},
        {"id": "01HFAY", "email": "fay.ng@gmail.com", "first_name": "Fay", "last_name": "Ng",
         "created": "2025-03-09 09:00:00", "updated": "2025-03-09 09:00:00", "_fivetran_synced": SYNCED,
         "_fivetran_deleted": None},
        {"id": "01HDAN", "email": "dan.roe@proton.me", "first_name": "Dan", "last_name": "Roe",
         "created": "2025-03-01 10:30:00", "updated": "2025-03-09 10:00:00", "_fivetran_synced": SYNCED,
         "_fivetran_deleted": True},
    ],
    "metric": [
        {"id": "MRECV", "name": "Received Email", **_KLAVIYO},
        {"id": "MOPEN", "name": "Opened Email", **_KLAVIYO},
        {"id": "MCLIK", "name": "Clicked Email", **_KLAVIYO},
        {"id": "MBNCE", "name": "Bounced Email", **_KLAVIYO},
        {"id": "MUNSB", "name": "Unsubscribed", **_KLAVIYO},
        {"id": "MORDR", "name": "Placed Order", **_KLAVIYO, "integration_name": "Shopify",
         "integration_category": "ecommerce"},
    ],
    "campaign": [
        {"id": "CSPRING", "name": "Spring Sale", "subject": "Spring is here", "status": "sent",
         "campaign_type": "regular", "sent_at": "2025-03-10 09:00:00", "_fivetran_synced": SYNCED,
         "_fivetran_deleted": False},
    ],
    "flow": [
        {"id": "FWELC", "name": "Welcome Series", "status": "live", "trigger_type": "List",
         "_fivetran_synced": SYNCED, "_fivetran_deleted": False},
    ],
    "event": [
        {"id": "EV1", "person_id": "01HANN", "metric_id": "MRECV", "campaign_id": "CSPRING",
         "timestamp": "2025-03-10 09:00:00", "datetime": "2025-03-10 09:00:00", "type": "Received Email",
         "property_subject": "Spring is here", "_fivetran_synced": SYNCED, "_fivetran_deleted": False},
        {"id": "EV2", "person_id": "01HANN", "metric_id": "MOPEN", "campaign_id": "CSPRING",
         "timestamp": "2025-03-10 10:00:00", "datetime": "2025-03-10 10:00:00", "type": "Opened Email",
         "_fivetran_synced": SYNCED, "_fivetran_deleted": False},
        {"id": "EV3", "person_id": "01HANN", "metric_id": "MCLIK", "campaign_id": "CSPRING",
         "timestamp": "2025-03-10 10:05:00", "datetime": "2025-03-10 10:05:00", "type": "Clicked Email",
         "property_url": "https://shop.example.com/spring", "_fivetran_synced": SYNCED, "_fivetran_deleted": False},
        {"id": "EV4", "person_id": "01HANN", "metric_id": "MORDR", "timestamp": "2025-03-10 11:00:00",
         "type": "Placed Order", "property_value": "54.00", "_fivetran_synced": SYNCED, "_fivetran_deleted": False},
        {"id": "EV5", "person_id": "01HANN", "metric_id": "MUNSB", "campaign_id": "CSPRING",
         "timestamp": "2025-03-11 10:00:00", "type": "Unsubscribed", "_fivetran_synced": SYNCED,
         "_fivetran_deleted": True},
        {"id": "EV6", "person_id": "01HFAY", "metric_id": "MRECV", "flow_id": "FWELC", "flow_message_id": "FM1",
         "timestamp": "2025-03-09 09:05:00", "type": "Received Email", "_fivetran_synced": SYNCED,
         "_fivetran_deleted": None},
        {"id": "EV7", "person_id": "01HFAY", "metric_id": "MBNCE", "flow_id": "FWELC", "flow_message_id": "FM2",
         "timestamp": "2025-03-10 09:05:00", "type": "Bounced Email", "property_bounce_type": "soft",
         "_fivetran_synced": SYNCED, "_fivetran_deleted": None},
        {"id": "EV8", "person_id": "01HFAY", "metric_id": "MOLDUNSUB", "timestamp": None,
         "datetime": "2025-03-12 09:00:00", "type": "Unsubscribed", "_fivetran_synced": SYNCED,
         "_fivetran_deleted": False},
        {"id": "EV9", "person_id": "01HDAN", "metric_id": "MRECV", "campaign_id": "CSPRING",
         "timestamp": "2025-03-10 09:00:00", "type": "Received Email", "_fivetran_synced": SYNCED,
         "_fivetran_deleted": False},
    ],
}  # fmt: skip

#: schema -> (table DDLs, rows) of every connector in the world.
CONNECTORS: dict[str, tuple[dict[str, str], dict[str, list[dict[str, Any]]]]] = {
    HUBSPOT_SCHEMA: (HUBSPOT_TABLES, HUBSPOT_ROWS),
    ZENDESK_SCHEMA: (ZENDESK_TABLES, ZENDESK_ROWS),
    KLAVIYO_SCHEMA: (KLAVIYO_TABLES, KLAVIYO_ROWS),
    shopify_world.SCHEMA: (shopify_world.TABLES, shopify_world.ROWS),
}
#: The presets file declaring every connector of the world.
PRESETS_YAML = (
    "sources:\n"
    f"  crm: {{preset: fivetran_hubspot, schema: {HUBSPOT_SCHEMA}}}\n"
    f"  support: {{preset: fivetran_zendesk, schema: {ZENDESK_SCHEMA}}}\n"
    f"  esp: {{preset: fivetran_klaviyo, schema: {KLAVIYO_SCHEMA}}}\n"
    f"  shop: {{preset: fivetran, schema: {shopify_world.SCHEMA}}}\n"
)

#: The staging of the CRM, support desk and email tool, and what it needs.
CRM_SUPPORT_ESP_STAGING = "+path:models/staging/crm +path:models/staging/support +path:models/staging/esp"
#: What the staging build selects on Postgres: the systems the world feeds, and what they need.
STAGING = f"{CRM_SUPPORT_ESP_STAGING} +path:models/staging/shop"


def create(
    execute: Callable[[str, list[Any]], Any], placeholder: str = "?", with_time_zone: bool = False
) -> None:
    """Create every connector's tables through `execute(sql, params)` (DuckDB `?`, psycopg2 `%s`).
    `with_time_zone` types the timestamps `timestamp with time zone`, as Fivetran does on Postgres; the values
    are UTC."""
    for schema, (tables, rows) in CONNECTORS.items():
        execute(f"drop schema if exists {schema} cascade", [])
        execute(f"create schema {schema}", [])
        for table, columns in tables.items():
            if with_time_zone:
                columns = columns.replace(" timestamp", " timestamp with time zone")
            execute(f'create table {schema}."{table}" ({columns})', [])
            for row in rows[table]:
                names = ", ".join(f'"{name}"' for name in row)
                marks = ", ".join(placeholder for _ in row)
                values = [
                    f"{value}+00:00"
                    if with_time_zone
                    and isinstance(value, str)
                    and len(value) == 19
                    and value.startswith("2025-")
                    else value
                    for value in row.values()
                ]
                execute(f'insert into {schema}."{table}" ({names}) values ({marks})', values)


def declare(root: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = root / "presets.yml"
    path.write_text(PRESETS_YAML)
    monkeypatch.setenv(PRESETS_FILE_ENV, str(path))


def build_duckdb(root: Path, select: list[str] | None = None) -> Settings:
    """The pipeline on DuckDB (narrowed to `select`, if given), on a world whose CRM, support desk, email
    tool and shop are only the connectors' tables (the demo files are empty)."""
    settings = world_settings(root)
    write_world(settings.data_dir, {})
    settings.published_db.parent.mkdir(parents=True, exist_ok=True)
    con = duckdb.connect(str(settings.published_db))
    create(lambda sql, params: con.execute(sql, params))
    con.close()
    with pytest.MonkeyPatch.context() as monkeypatch:
        declare(root, monkeypatch)
        assert build(settings, select=select).published
    return settings


def build_postgres(root: Path) -> Settings:
    """The staging of the same world on Postgres, with a dbt session that is not on UTC (Fivetran's
    `timestamp with time zone` must still stage as UTC). Drop the connectors' schemas with `drop_postgres`."""
    import psycopg2

    settings = world_settings(root, "postgres", pg_schema="tessera_fivetran")
    write_world(settings.data_dir, {})
    con = psycopg2.connect(**settings.postgres.connect_kwargs())
    con.autocommit = True
    with con.cursor() as cur:
        create(lambda sql, params: cur.execute(sql, params), placeholder="%s", with_time_zone=True)
    con.close()
    with pytest.MonkeyPatch.context() as monkeypatch:
        declare(root, monkeypatch)
        monkeypatch.setenv("PGTZ", "America/New_York")
        warehouse = get_warehouse(settings)
        warehouse.prepare_build()
        warehouse.load_raw(settings.raw_dir)
        results = run_dbt(settings, ["build", "--select", *STAGING.split()])["results"]
    failed = [r["unique_id"] for r in results if r["status"] not in ("success", "pass")]
    assert results and not failed, failed
    return settings


def drop_postgres(settings: Settings) -> None:
    import psycopg2

    con = psycopg2.connect(**settings.postgres.connect_kwargs())
    con.autocommit = True
    with con.cursor() as cur:
        for schema in CONNECTORS:
            cur.execute(f"drop schema if exists {schema} cascade")
    con.close()


def query_postgres(settings: Settings, sql: str) -> list[tuple[Any, ...]]:
    """Rows of `sql`, where `{build}` is the Postgres build schema."""
    import psycopg2

    con = psycopg2.connect(**settings.postgres.connect_kwargs())
    try:
        with con.cursor() as cur:
            cur.execute(sql.format(build=f'"{settings.postgres.build_schema}"'))
            return list(cur.fetchall())
    finally:
        con.close()


def query_duckdb(settings: Settings, sql: str) -> list[tuple[Any, ...]]:
    return get_warehouse(settings).query_published(sql)


def columns(settings: Settings, table: str) -> list[tuple[str, str]]:
    """A published DuckDB table's columns and types, in order."""
    return [
        (name, kind)
        for name, kind in query_duckdb(
            settings,
            "select column_name, data_type from information_schema.columns "
            f"where table_name = '{table}' order by ordinal_position",
        )
    ]
