"""The Fivetran presets of the crm, support, esp and shop sources: HubSpot contacts (`fivetran_hubspot`), Zendesk
tickets, users and satisfaction ratings (`fivetran_zendesk`), Klaviyo events, people and metrics
(`fivetran_klaviyo`) and a Shopify shop (`fivetran`) as Fivetran's connectors land them (tests/fivetran_world.py,
tests/shopify_world.py) are read in place and staged into the contracts the demo presets feed, on DuckDB (the
pipeline, into the customers and the orders marts) and on Postgres (staging). One world declares every preset,
so this module builds it once per warehouse."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path

import duckdb
import pytest

from orchestration.build.pipeline import run_dbt
from orchestration.settings import Settings
from orchestration.warehouse.registry import get_warehouse
from tests import fivetran_world
from tests.conftest import require_postgres
from tests.worlds import world_settings, write_world

#: What this module's DuckDB tests read (the base and staging models, the quarantine tables, customers and
#: their source records, identifiers, traits, the events and the orders marts) and everything upstream of it:
#: the build leaves out the other marts (predictions, audiences, activation), whose tests the main world runs.
DUCKDB_SELECTION = [
    "+customers",
    "+customer_traits",
    "+events",
    "+orders",
    "+order_items",
    "+customer_source_records",
    "+customer_identifiers",
    "+quarantine_summary",
]

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
    """The pipeline, narrowed to DUCKDB_SELECTION, on the connectors' world. The presets' configuration
    keeps the dbt unit tests of the selected models."""
    return fivetran_world.build_duckdb(tmp_path_factory.mktemp("fivetran-world"), DUCKDB_SELECTION)


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
    ) == [("102", "deleted in source"), ("104", "merged in source"), ("105", "merged in source")]
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
        "select count(*) from customer_source_records where source_name = 'crm' "
        "and record_id in ('102', '104', '105')",
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
    ) == [("102", "deleted in source"), ("104", "merged in source"), ("105", "merged in source")]


# -- support: fivetran_zendesk -------------------------------------------------------------------------------

_I = "INTEGER"
#: The support base models' columns and DuckDB types as the demo preset builds them (the staging contract).
SUPPORT_CONTRACT = {
    "base_support__tickets": [
        ("ticket_id", _S), ("email_raw", _S), ("email", _S), ("phone_raw", _S), ("phone", _S),
        ("requester_name", _S), ("subject", _S), ("ticket_status", _S), ("priority", _S), ("ticket_channel", _S),
        ("is_open", _B), ("created_at", _T), ("updated_at", _T), ("loaded_at", _T), ("is_valid_email", _B),
        ("is_junk_email", _B), ("is_junk_phone", _B), ("email_issue", _S), ("phone_issue", _S),
        ("quarantine_reason", _S),
    ],
    "base_support__survey_responses": [
        ("survey_response_id", _S), ("ticket_id", _S), ("email_raw", _S), ("email", _S), ("survey_type", _S),
        ("score", _I), ("comment_text", _S), ("responded_at", _T), ("loaded_at", _T), ("is_junk_email", _B),
        ("quarantine_reason", _S),
    ],
}  # fmt: skip


def test_zendesk_tables_land_in_the_demo_staging_contract(duckdb_build: Settings) -> None:
    for table, contract in SUPPORT_CONTRACT.items():
        assert fivetran_world.columns(duckdb_build, table) == contract, table


def test_zendesk_tickets_and_ratings_are_staged_with_their_requester(duckdb_build: Settings) -> None:
    assert _query(
        duckdb_build,
        "select ticket_id, email, phone, requester_name, subject, ticket_status, priority, ticket_channel, "
        "is_open, created_at, loaded_at from stg_support__tickets order by 1",
    ) == [
        ("5001", "ann.lee@fastmail.com", "+447700900123", "Ann Lee", "Late parcel", "open", "normal", "email",
         True, dt.datetime(2025, 3, 6, 8), dt.datetime(2025, 4, 2, 6)),
        # on hold is pending, and still open; a voice ticket is a phone one
        ("5002", "ann.lee@fastmail.com", "+447700900123", "Ann Lee", "Wrong size", "pending", None, "phone",
         True, dt.datetime(2025, 3, 7, 8), dt.datetime(2025, 4, 2, 6)),
        ("5004", "eve.tran@outlook.com", None, "Eve Tran", "Broken zip", "solved", "low", "web", False,
         dt.datetime(2025, 3, 2, 13), dt.datetime(2025, 4, 2, 6)),
    ]  # fmt: skip
    # good is 5 and bad is 1 on the contract's 1-5 CSAT scale, answered when the rating was last updated
    assert _query(
        duckdb_build,
        "select survey_response_id, ticket_id, email, survey_type, score, comment_text, responded_at "
        "from stg_support__survey_responses order by 1",
    ) == [
        ("7001", "5001", "ann.lee@fastmail.com", "csat", 5, "Quick reply", dt.datetime(2025, 3, 8, 10)),
        ("7004", "5004", "eve.tran@outlook.com", "csat", 1, "Still broken", dt.datetime(2025, 3, 4, 10)),
    ]


def test_deleted_tickets_and_unanswered_ratings_are_counted_not_staged(duckdb_build: Settings) -> None:
    assert _query(
        duckdb_build,
        "select table_name, record_id, quarantine_reason from quarantined_rows where source_name = 'support' "
        "order by 1, 2",
    ) == [
        ("survey_responses", "7002", "survey not answered"),
        ("survey_responses", "7003", "requester deleted in source"),
        ("tickets", "5003", "requester deleted in source"),
        ("tickets", "5005", "deleted in source"),
    ]


def test_zendesk_requesters_reach_the_customers_and_their_traits(duckdb_build: Settings) -> None:
    # Ann's tickets and rating join her HubSpot contact; Eve, only in Zendesk, is a customer of her own.
    rows = _query(
        duckdb_build,
        "select customers.email, customer_traits.open_support_tickets, customer_traits.latest_csat "
        "from customers inner join customer_traits on customers.customer_id = customer_traits.customer_id "
        "where customers.email in ('ann.lee@fastmail.com', 'eve.tran@outlook.com') order by 1",
    )
    assert rows == [("ann.lee@fastmail.com", 2, 5), ("eve.tran@outlook.com", 0, 1)]
    assert _query(
        duckdb_build,
        "select count(distinct customer_id), count(*) from customer_source_records "
        "where (source_name = 'crm' and record_id = '101') "
        "or (source_name = 'support' and record_id in ('5001', '5002', '7001'))",
    ) == [(1, 4)]
    assert _query(
        duckdb_build,
        "select count(*) from customer_source_records where source_name = 'support' "
        "and record_id in ('5003', '5005', '7002', '7003')",
    ) == [(0,)]


def test_postgres_stages_the_same_tickets_and_ratings(postgres_build: Settings) -> None:
    assert fivetran_world.query_postgres(
        postgres_build,
        "select ticket_id, email, ticket_status, is_open, created_at from {build}.stg_support__tickets order by 1",
    ) == [
        ("5001", "ann.lee@fastmail.com", "open", True, dt.datetime(2025, 3, 6, 8)),
        ("5002", "ann.lee@fastmail.com", "pending", True, dt.datetime(2025, 3, 7, 8)),
        ("5004", "eve.tran@outlook.com", "solved", False, dt.datetime(2025, 3, 2, 13)),
    ]
    assert fivetran_world.query_postgres(
        postgres_build,
        "select survey_response_id, score, responded_at, quarantine_reason "
        "from {build}.base_support__survey_responses order by 1",
    ) == [
        ("7001", 5, dt.datetime(2025, 3, 8, 10), None),
        ("7002", None, dt.datetime(2025, 3, 7, 10), "survey not answered"),
        ("7003", 5, dt.datetime(2025, 3, 5, 11), "requester deleted in source"),
        ("7004", 1, dt.datetime(2025, 3, 4, 10), None),
    ]


# -- esp: fivetran_klaviyo -----------------------------------------------------------------------------------

#: base_esp__email_events' columns and DuckDB types as the demo preset builds them (the staging contract).
ESP_CONTRACT = [
    ("email_event_id", _S), ("email_raw", _S), ("email", _S), ("campaign_id", _S), ("campaign_name", _S),
    ("email_event_type", _S), ("clicked_url", _S), ("occurred_at", _T), ("loaded_at", _T), ("is_junk_email", _B),
    ("quarantine_reason", _S),
]  # fmt: skip


def test_klaviyo_events_land_in_the_demo_staging_contract(duckdb_build: Settings) -> None:
    assert fivetran_world.columns(duckdb_build, "base_esp__email_events") == ESP_CONTRACT


def test_klaviyo_email_metrics_are_staged_with_the_profiles_email(duckdb_build: Settings) -> None:
    assert _query(
        duckdb_build,
        "select email_event_id, email, campaign_id, campaign_name, email_event_type, clicked_url, occurred_at, "
        "loaded_at from stg_esp__email_events order by 1",
    ) == [
        ("EV1", "ann.lee@fastmail.com", "CSPRING", "Spring Sale", "send", None, dt.datetime(2025, 3, 10, 9),
         dt.datetime(2025, 4, 2, 6)),
        ("EV2", "ann.lee@fastmail.com", "CSPRING", "Spring Sale", "open", None, dt.datetime(2025, 3, 10, 10),
         dt.datetime(2025, 4, 2, 6)),
        ("EV3", "ann.lee@fastmail.com", "CSPRING", "Spring Sale", "click", "https://shop.example.com/spring",
         dt.datetime(2025, 3, 10, 10, 5), dt.datetime(2025, 4, 2, 6)),
        # a flow's message: the flow is the campaign
        ("EV6", "fay.ng@gmail.com", "FWELC", "Welcome Series", "send", None, dt.datetime(2025, 3, 9, 9, 5),
         dt.datetime(2025, 4, 2, 6)),
        ("EV7", "fay.ng@gmail.com", "FWELC", "Welcome Series", "bounce", None, dt.datetime(2025, 3, 10, 9, 5),
         dt.datetime(2025, 4, 2, 6)),
        # an older sync: the metric is not in `metric`, the event's type names it; datetime when no timestamp
        ("EV8", "fay.ng@gmail.com", None, None, "unsubscribe", None, dt.datetime(2025, 3, 12, 9),
         dt.datetime(2025, 4, 2, 6)),
    ]  # fmt: skip


def test_deleted_klaviyo_events_and_profiles_are_counted_not_staged(duckdb_build: Settings) -> None:
    # EV4 (Placed Order) is not email engagement: not an email event at all, so neither staged nor quarantined.
    assert _query(
        duckdb_build,
        "select record_id, quarantine_reason from quarantined_rows where source_name = 'esp' order by 1",
    ) == [("EV5", "deleted in source"), ("EV9", "person deleted in source")]


def test_klaviyo_events_reach_the_customers(duckdb_build: Settings) -> None:
    [(ann,)] = _query(duckdb_build, "select customer_id from customers where email = 'ann.lee@fastmail.com'")
    assert _query(
        duckdb_build,
        "select event_id, event_name, event_channel, utm_campaign from events where source_name = 'esp' "
        f"and customer_id = '{ann}' order by occurred_at",
    ) == [
        ("EV1", "email_send", "email", "Spring Sale"),
        ("EV2", "email_open", "email", "Spring Sale"),
        ("EV3", "email_click", "email", "Spring Sale"),
    ]
    # Fay is only in Klaviyo: her email makes her a customer (with no profile attributes: an email event is no
    # profile), who has her three email events
    assert _query(
        duckdb_build,
        "select count(distinct events.customer_id), count(*) from events inner join customer_identifiers "
        "on events.customer_id = customer_identifiers.customer_id "
        "where events.source_name = 'esp' and customer_identifiers.identifier_type = 'email' "
        "and customer_identifiers.identifier_value = 'fay.ng@gmail.com'",
    ) == [(1, 3)]
    assert _query(
        duckdb_build,
        "select count(*) from events where source_name = 'esp' and event_id in ('EV4', 'EV5', 'EV9')",
    ) == [(0,)]


def test_postgres_stages_the_same_email_events(postgres_build: Settings) -> None:
    assert fivetran_world.query_postgres(
        postgres_build,
        "select email_event_id, email, email_event_type, occurred_at, quarantine_reason "
        "from {build}.base_esp__email_events order by 1",
    ) == [
        ("EV1", "ann.lee@fastmail.com", "send", dt.datetime(2025, 3, 10, 9), None),
        ("EV2", "ann.lee@fastmail.com", "open", dt.datetime(2025, 3, 10, 10), None),
        ("EV3", "ann.lee@fastmail.com", "click", dt.datetime(2025, 3, 10, 10, 5), None),
        ("EV5", "ann.lee@fastmail.com", "unsubscribe", dt.datetime(2025, 3, 11, 10), "deleted in source"),
        ("EV6", "fay.ng@gmail.com", "send", dt.datetime(2025, 3, 9, 9, 5), None),
        ("EV7", "fay.ng@gmail.com", "bounce", dt.datetime(2025, 3, 10, 9, 5), None),
        ("EV8", "fay.ng@gmail.com", "unsubscribe", dt.datetime(2025, 3, 12, 9), None),
        ("EV9", "dan.roe@proton.me", "send", dt.datetime(2025, 3, 10, 9), "person deleted in source"),
    ]


# -- shop: fivetran (Shopify) ---------------------------------------------------------------------------------

_N = "DECIMAL(28,6)"
#: The shop base models' columns and DuckDB types as the demo preset builds them (the staging contract).
SHOP_CONTRACT: dict[str, list[tuple[str, str]]] = {
    "base_shop__customers": [
        ("shop_customer_id", _S), ("first_name", _S), ("last_name", _S), ("first_name_key", _S),
        ("last_name_key", _S), ("email_raw", _S), ("email", _S), ("phone_raw", _S), ("phone", _S), ("street", _S),
        ("city", _S), ("postcode", _S), ("region", _S), ("country_code", _S), ("accepts_marketing", _B),
        ("created_at", _T), ("updated_at", _T), ("loaded_at", _T), ("is_valid_email", _B), ("is_junk_email", _B),
        ("is_junk_phone", _B), ("email_issue", _S), ("phone_issue", _S), ("quarantine_reason", _S),
    ],
    "base_shop__orders": [
        ("order_id", _S), ("shop_customer_id", _S), ("store_id", _S), ("email_raw", _S), ("email", _S),
        ("order_channel", _S), ("currency_code", _S), ("discount_code", _S), ("financial_status", _S),
        ("subtotal_amount", _N), ("discount_amount", _N), ("total_amount", _N), ("ordered_at", _T),
        ("loaded_at", _T), ("is_junk_email", _B), ("quarantine_reason", _S),
    ],
    "base_shop__order_items": [
        ("order_item_id", _S), ("order_id", _S), ("product_id", _S), ("product_name", _S),
        ("product_category", _S), ("quantity", _I), ("unit_price", _N), ("loaded_at", _T),
        ("quarantine_reason", _S),
    ],
}  # fmt: skip


def test_shopify_tables_land_in_the_demo_staging_contract(duckdb_build: Settings) -> None:
    for table, contract in SHOP_CONTRACT.items():
        assert fivetran_world.columns(duckdb_build, table) == contract, table


def test_a_shopify_customer_with_an_order_reaches_customers_and_the_orders_mart(
    duckdb_build: Settings,
) -> None:
    [(customer_id, first, last, email, street, city, postcode, country)] = _query(
        duckdb_build,
        "select customer_id, first_name, last_name, email, street, city, postcode, country_code from customers "
        "where email = 'ann.lee@fastmail.com'",
    )
    # the default address (default_address_id), not her first one
    assert (first, last, street, city, postcode, country) == (
        "Ann",
        "Lee",
        "12 Mill Lane",
        "Leeds",
        "LS14AP",
        "GB",
    )
    orders = _query(
        duckdb_build,
        "select order_id, customer_id, order_channel, store_id, currency_code, discount_code, financial_status, "
        "item_count, cast(total_amount as double), ordered_at from orders where source_name = 'shop' order by 1",
    )
    assert orders[0] == (
        "7001",
        customer_id,
        "online",
        None,
        "GBP",
        "SPRING10",
        "paid",
        3,
        54.0,
        dt.datetime(2025, 3, 2, 10),
    )
    # a till order (source_name pos) is a store order at its location; authorized is not yet paid
    assert orders[1][:7] == ("7003", orders[1][1], "store", "66001", "GBP", None, "pending")
    assert [order_id for order_id, *_ in orders] == ["7001", "7003"]
    assert _query(
        duckdb_build,
        "select order_item_id, product_name, product_category, quantity, cast(unit_price as double) "
        "from stg_shop__order_items where order_id = '7001' order by 1",
    ) == [("8001", "Trail Shoe", "shoes", 1, 50.0), ("8002", "Wool Sock", "socks", 2, 5.0)]
    assert _query(
        duckdb_build,
        "select accepts_marketing, loaded_at from stg_shop__customers where shop_customer_id = '501'",
    ) == [(True, dt.datetime(2025, 4, 2, 6))]


def test_a_customer_deleted_in_shopify_is_not_a_live_customer(duckdb_build: Settings) -> None:
    assert _query(duckdb_build, "select count(*) from customers where email = 'dan.roe@proton.me'") == [(0,)]
    assert _query(
        duckdb_build, "select count(*) from stg_shop__customers where shop_customer_id = '502'"
    ) == [(0,)]
    assert _query(duckdb_build, "select count(*) from orders where order_id = '7002'") == [(0,)]
    assert _query(
        duckdb_build,
        "select table_name, record_id, quarantine_reason from quarantined_rows where source_name = 'shop' "
        "order by 1, 2",
    ) == [
        ("customers", "502", "deleted in source"),
        ("order_items", "8003", "order deleted in source"),
        ("orders", "7002", "deleted in source"),
    ]


def test_postgres_stages_the_same_shop(postgres_build: Settings) -> None:
    assert fivetran_world.query_postgres(
        postgres_build,
        "select shop_customer_id, email, city, accepts_marketing, created_at from {build}.stg_shop__customers "
        "order by 1",
    ) == [
        ("501", "ann.lee@fastmail.com", "Leeds", True, dt.datetime(2025, 3, 1, 9)),
        ("503", "cara.diaz@gmail.com", None, False, dt.datetime(2025, 3, 1, 11)),
    ]
    assert fivetran_world.query_postgres(
        postgres_build,
        "select order_id, shop_customer_id, financial_status, total_amount, ordered_at from {build}.stg_shop__orders "
        "order by 1",
    ) == [
        ("7001", "501", "paid", Decimal("54"), dt.datetime(2025, 3, 2, 10)),
        ("7003", "503", "pending", Decimal("15"), dt.datetime(2025, 3, 4, 15)),
    ]
    assert fivetran_world.query_postgres(
        postgres_build, "select order_item_id from {build}.stg_shop__order_items order by 1"
    ) == [("8001",), ("8002",), ("8004",)]


# -- drift -----------------------------------------------------------------------------------------------------


def test_absent_optional_tables_stage_and_a_renamed_column_stops_its_model(tmp_path: Path) -> None:
    """The connectors' optional tables absent (an account without CSAT; a Klaviyo sync of events and profiles
    only): the support and esp staging still builds, without ratings and with metrics named by the events'
    own type. A column the HubSpot connector always writes, renamed: its base model stops with the table and
    the column named, rather than failing on a database error or staging nulls (a build then publishes
    nothing, as for any failed gating model). One staging build shows both."""
    settings = world_settings(tmp_path)
    write_world(settings.data_dir, {})
    settings.published_db.parent.mkdir(parents=True, exist_ok=True)
    con = duckdb.connect(str(settings.published_db))
    fivetran_world.create(lambda sql, params: con.execute(sql, params))
    con.execute(f"drop table {fivetran_world.ZENDESK_SCHEMA}.satisfaction_rating")
    for table in ("metric", "campaign", "flow"):
        con.execute(f"drop table {fivetran_world.KLAVIYO_SCHEMA}.{table}")
    con.execute(
        f"alter table {fivetran_world.HUBSPOT_SCHEMA}.contact rename column _fivetran_synced to synced_at"
    )
    con.close()
    with pytest.MonkeyPatch.context() as monkeypatch:
        fivetran_world.declare(tmp_path, monkeypatch)
        warehouse = get_warehouse(settings)
        warehouse.prepare_build()
        warehouse.load_raw(settings.raw_dir)
        results = run_dbt(settings, ["build", "--select", *fivetran_world.CRM_SUPPORT_ESP_STAGING.split()])[
            "results"
        ]
    status = {r["unique_id"].split(".")[2]: r for r in results if r["unique_id"].startswith("model.")}
    assert status["base_crm__contacts"]["status"] == "error"
    assert (
        f"crm preset fivetran_hubspot: table {fivetran_world.HUBSPOT_SCHEMA}.contact has no column "
        "_fivetran_synced, which the connector writes"
    ) in status["base_crm__contacts"]["message"]
    assert status["stg_crm__contacts"]["status"] == "skipped"
    for model in ("stg_support__tickets", "stg_support__survey_responses", "stg_esp__email_events"):
        assert status[model]["status"] == "success", model
    build = duckdb.connect(str(settings.build_db), read_only=True)
    try:
        assert build.execute("select count(*) from stg_support__tickets").fetchall() == [(3,)]
        assert build.execute("select count(*) from stg_support__survey_responses").fetchall() == [(0,)]
        assert build.execute(
            "select email_event_id, email_event_type, campaign_id, campaign_name from stg_esp__email_events "
            "order by 1"
        ).fetchall() == [
            ("EV1", "send", "CSPRING", None),
            ("EV2", "open", "CSPRING", None),
            ("EV3", "click", "CSPRING", None),
            ("EV6", "send", "FWELC", None),
            ("EV7", "bounce", "FWELC", None),
            ("EV8", "unsubscribe", None, None),
        ]
    finally:
        build.close()
