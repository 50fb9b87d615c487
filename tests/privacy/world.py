"""One small hand-made DuckDB world for the privacy modules that erase or mask on DuckDB, built once per test run
(tests/worlds.py, copy_of_built_world): each module erases or masks in a copy of its own. It holds each module's
people side by side, with no name, email, street, phone or record id in common between them:

- tests/privacy/test_erasure_proof.py: the subject, Quentin Zabriskie (a rare name, a phone and a specific
  street line) in the shop, the CRM and a support ticket, beside Bob and Cara Keeper;
- tests/privacy/test_masked_ids.py: Pia Plant, with a shop account, an order with an item, a CRM contact,
  Segment events and a support ticket, each with a distinctive id; Eve, known only by the email of a support
  ticket; and Otto Outsider, a shop account;
- tests/privacy/test_probable_records.py: Pia Probable's shop account, and an old loyalty list (a declared
  person source, in the world's config folder) whose record L7 has her name and street and a loyalty card, but
  no email; and Olly Other, in the shop and the loyalty list;
- tests/privacy/test_erasure_killed.py: Kim Killed, with a shop account, a CRM contact, Segment events and a
  record in a trade fair's visitor list (a second declared person source, with her email).

The build is the project's default configuration (a person source reaches dbt as landing tables, not vars),
without the dbt unit tests the main world runs."""

from __future__ import annotations

import textwrap
import uuid
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from orchestration.settings import Settings
from tests.conftest import TEST_PG_DATABASE, require_postgres
from tests.worlds import (
    copy_of_built_world,
    crm_contact,
    dbt_unit_tests_run_once,
    identify,
    shop_customer,
    ticket,
    track,
    ts,
    world_settings,
    write_world,
)

# -- tests/privacy/test_erasure_proof.py ------------------------------------------------------------------------
PROOF_EMAIL = "quentin.zab@proof.example"
PROOF_FIRST, PROOF_LAST = "Quentin", "Zabriskie"
PROOF_STREET = "17 Larkspur Mews"
PROOF_PHONE = "07700 900461"  # a fictional number no fixture of the project's dbt unit tests uses


def _proof_customer(
    number: int, first: str, last: str, email: str, street: str | None, phone: str | None = None
) -> dict[str, Any]:
    return {
        **shop_customer(number, first, last, email, phone),
        "street": street,
        "postcode": "AB1 2CD",
        "city": "Leeds",
    }


PROOF_ROWS: dict[str, list[dict[str, Any]]] = {
    "shop.customers": [
        _proof_customer(1, PROOF_FIRST, PROOF_LAST, PROOF_EMAIL, PROOF_STREET, PROOF_PHONE),
        _proof_customer(2, "Bob", "Keeper", "bob.keeper@proof.example", "2 Other Road"),
        _proof_customer(3, "Cara", "Keeper", "cara.keeper@proof.example", "2 Other Road"),
    ],
    "crm.contacts": [
        crm_contact("c1", PROOF_FIRST, PROOF_LAST, PROOF_EMAIL, PROOF_PHONE),
        crm_contact("c2", "Bob", "Keeper", None),
    ],
    "support.tickets": [ticket(7, f"{PROOF_FIRST} {PROOF_LAST}", PROOF_EMAIL, PROOF_PHONE)],
}

# -- tests/privacy/test_masked_ids.py ---------------------------------------------------------------------------
MASKED_SHOP_ID, MASKED_ORDER_ID, MASKED_ITEM_ID = 660044, 770011, 880022
MASKED_TICKET_ID, MASKED_EVE_TICKET_ID = 990033, 990034
# Known to Tessera by this email alone, so it founds her customer and her id is derived from it.
MASKED_EVE_EMAIL = "eve.email@masked.example"
MASKED_PLANTED = [
    str(MASKED_SHOP_ID),
    str(MASKED_ORDER_ID),
    str(MASKED_ITEM_ID),
    str(MASKED_TICKET_ID),
    "crm-plant-553",
    "evt-plant-551",
    "idf-plant-552",
    "anon-plant-554",
]
_PIA_PLANT = "pia.plant@masked.example"

MASKED_ROWS: dict[str, list[dict[str, Any]]] = {
    "shop.customers": [
        shop_customer(MASKED_SHOP_ID, "Pia", "Plant", _PIA_PLANT, "07700 900777"),
        shop_customer(5, "Otto", "Outsider", "otto@masked.example"),
    ],
    "shop.orders": [
        {
            "order_id": MASKED_ORDER_ID,
            "customer_id": MASKED_SHOP_ID,
            "email": _PIA_PLANT,
            "channel": "online",
            "store_id": "web",
            "currency": "GBP",
            "subtotal_price": 40.0,
            "total_discounts": 0.0,
            "total_price": 40.0,
            "financial_status": "paid",
            "created_at": ts(3),
        }
    ],
    "shop.order_items": [
        {
            "order_item_id": MASKED_ITEM_ID,
            "order_id": MASKED_ORDER_ID,
            "product_id": "sku-1",
            "product_name": "Scarf",
            "category": "accessories",
            "quantity": 1,
            "price": 40.0,
        }
    ],
    "crm.contacts": [crm_contact("crm-plant-553", "Pia", "Plant", _PIA_PLANT)],
    "events.identifies": [identify("idf-plant-552", "anon-plant-554", str(MASKED_SHOP_ID), email=_PIA_PLANT)],
    "events.tracks": [track("evt-plant-551", "anon-plant-554", str(MASKED_SHOP_ID), "Product Viewed")],
    "support.tickets": [
        ticket(MASKED_TICKET_ID, "Pia Plant", _PIA_PLANT, None),
        ticket(MASKED_EVE_TICKET_ID, "Eve Email", MASKED_EVE_EMAIL, None),
    ],
}

# -- tests/privacy/test_probable_records.py ---------------------------------------------------------------------
PROBABLE_EMAIL = "pia.probable@world.example"
PROBABLE_CARD = "LC99881277"
PROBABLE_LOYALTY = textwrap.dedent(
    """\
    Member,First,Last,Street,Postcode,Card
    L7,Pia,Probable,14 Quayside Walk,LS1 4AB,LC99881277
    L8,Olly,Other,3 Mill Lane,LS2 9ZZ,LC11223344
    """
)
PROBABLE_ROWS: dict[str, list[dict[str, Any]]] = {
    "shop.customers": [
        {
            **shop_customer(21, "Pia", "Probable", PROBABLE_EMAIL),
            "street": "14 Quayside Walk",
            "postcode": "LS1 4AB",
        },
        shop_customer(22, "Olly", "Other", "olly.other@world.example"),
    ]
}
# -- tests/privacy/test_erasure_killed.py -----------------------------------------------------------------------
KILLED_EMAIL = "kim.killed@killed.example"
KILLED_VISITORS = textwrap.dedent(
    f"""\
    Visitor No,Name,E-mail
    K1,Kim Killed,{KILLED_EMAIL}
    """
)
KILLED_ROWS: dict[str, list[dict[str, Any]]] = {
    "shop.customers": [shop_customer(41, "Kim", "Killed", KILLED_EMAIL, "07700 900941")],
    "crm.contacts": [crm_contact("crm-kim-41", "Kim", "Killed", KILLED_EMAIL, "07700 900941")],
    "events.identifies": [identify("idf-kim-41", "anon-kim-41", "41", email=KILLED_EMAIL)],
    "events.tracks": [track("evt-kim-41", "anon-kim-41", "41", "Product Viewed")],
}

#: The person-source declarations and the files they read, in the world's config folder.
PERSON_SOURCES = {
    "loyalty.csv": PROBABLE_LOYALTY,
    "visitors.csv": KILLED_VISITORS,
    "person_sources.yml": textwrap.dedent(
        """\
        person_sources:
          - name: loyalty
            file: loyalty.csv
            record_id: Member
            fields: {first_name: First, last_name: Last, street: Street, postcode: Postcode}
            external_ids: {loyalty_card: Card}
            default_country: GB
          - name: fair
            file: visitors.csv
            record_id: Visitor No
            fields: {full_name: Name, email: E-mail}
            default_country: GB
        """
    ),
}


def _merged(*worlds: dict[str, list[dict[str, Any]]]) -> dict[str, list[dict[str, Any]]]:
    rows: dict[str, list[dict[str, Any]]] = {}
    for world in worlds:
        for table, records in world.items():
            rows.setdefault(table, []).extend(records)
    return rows


ROWS = _merged(PROOF_ROWS, MASKED_ROWS, PROBABLE_ROWS, KILLED_ROWS)


def copy_of_privacy_world(tmp_path_factory: pytest.TempPathFactory, into: Path) -> Settings:
    """A private copy under `into` of the privacy world, built and published once per test run (the whole
    project, without the dbt unit tests); its settings read the person sources from the copy's config folder."""
    return copy_of_built_world(tmp_path_factory, "privacy", ROWS, None, into, person_sources=PERSON_SOURCES)


# -- the Postgres privacy world: tests/privacy/test_erasure_postgres.py and test_masked_ids.py's Postgres tests ---
# Ann Erased in five raw tables, a declared person-source CSV and a declared warehouse table, and Bob Kept beside
# her (the erasure's people), with the masked-id module's people (MASKED_ROWS): no name, email, phone or record
# id in common between the two.
PG_VISITORS = textwrap.dedent(
    """\
    Visitor No,Name,E-mail,Mobile
    V1,Ann Erased, ANN@Mail.net ,
    V2,Bob Kept,bob@mail.net,07700 900456
    V3,"Dee, Other",dee@other.org,
    """
)
PG_ERASURE_ROWS: dict[str, list[dict[str, Any]]] = {
    "shop.customers": [
        shop_customer(1, "Ann", "Erased", " Ann@Mail.net", "07700 900123"),
        shop_customer(2, "Bob", "Kept", "bob@mail.net", "07700 900456"),
    ],
    "crm.contacts": [
        crm_contact("c1", "Ann", "Erased", "ann@mail.net", "07700 900123"),
        crm_contact("c2", "Bob", "Kept", "bob@mail.net"),
    ],
    "events.identifies": [identify("m1", "ann-device-77", "1", email="ann@mail.net")],
    "events.tracks": [
        track("t1", "ann-device-77", None, "Product Viewed"),
        track("t2", "bob-device-88", "2", "Product Viewed"),
    ],
    "support.tickets": [ticket(7, "Ann Erased", "ann@mail.net", None)],
}
_PG = {
    "host": "127.0.0.1",
    "port": 5432,
    "user": "postgres",
    "dbname": TEST_PG_DATABASE,
    "connect_timeout": 3,
}


def postgres_privacy_world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Settings, str, str]]:
    """The Postgres privacy world, built whole and published (the project's default dbt configuration, without
    the dbt unit tests the Postgres demo, tests/test_postgres.py, runs): its settings, published schema and
    the schema of the declared warehouse table. Run once per test run by tests/conftest.py's privacy_pg_world,
    for the tests of the xdist group privacy_pg: the masked-id checks read it, the erasure erases Ann from it
    (and suppresses Bob), which leaves the masked-id module's people as they were."""
    import psycopg2

    require_postgres()
    root = tmp_path_factory.mktemp("privacy_pg")
    schema = f"privacy_pg_{uuid.uuid4().hex[:8]}"
    legacy = f"{schema}_legacy"
    settings = replace(
        world_settings(root, target="postgres", pg_schema=schema),
        person_sources_path=root / "config" / "person_sources.yml",
    )
    write_world(settings.data_dir, _merged(PG_ERASURE_ROWS, MASKED_ROWS))
    config = settings.person_sources_path.parent
    config.mkdir(parents=True)
    (config / "visitors.csv").write_text(PG_VISITORS)
    settings.person_sources_path.write_text(
        textwrap.dedent(
            f"""\
            person_sources:
              - name: fair
                file: visitors.csv
                record_id: Visitor No
                fields: {{full_name: Name, email: E-mail, phone: Mobile}}
                default_country: GB
              - name: legacy
                table: {legacy}.members
                record_id: member_id
                fields: {{full_name: name, email: email}}
            """
        )
    )
    with psycopg2.connect(**_PG) as con, con.cursor() as cur:
        cur.execute(f"create schema {legacy}")
        cur.execute(f"create table {legacy}.members (member_id integer, name text, email text)")
        cur.execute(
            f"insert into {legacy}.members values (10, 'Ann Erased', 'ann@mail.net'), (11, 'Cara Kept', 'cara@x.org')"
        )
    try:
        from orchestration.build.pipeline import build

        with dbt_unit_tests_run_once():
            assert build(settings).published
        yield settings, schema, legacy
    finally:
        with psycopg2.connect(**_PG) as con, con.cursor() as cur:
            for name in (schema, f"{schema}_build", f"{schema}_masked", f"{schema}_build_masked", legacy):
                cur.execute(f"drop schema if exists {name} cascade")
