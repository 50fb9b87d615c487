"""A tiny Snowplow-shaped warehouse, written by hand in the shape Snowplow's loaders give `atomic.events`
(one wide table, one row per event, every event type in it; the column names and types of Snowplow's
atomic schema, a subset of its ~130 columns), not from our generator. Self-describing event and context
columns are JSON text, as a wide-row loader writes them; `create(legacy=True)` writes the older shapes
instead (one `contexts`, one `derived_contexts` and one `unstruct_event` column, and shredded context
tables)."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

SCHEMA = "snowplow_atomic"

# The atomic columns this world fills, with their types (event_id is a UUID on Snowplow's Postgres
# loader, CHAR(36) elsewhere: `uuid_type` says which).
COLUMNS: dict[str, str] = {
    "app_id": "varchar",
    "platform": "varchar",
    "etl_tstamp": "timestamp",
    "collector_tstamp": "timestamp",
    "dvce_created_tstamp": "timestamp",
    "event": "varchar",
    "event_id": "{uuid}",
    "name_tracker": "varchar",
    "v_tracker": "varchar",
    "v_collector": "varchar",
    "v_etl": "varchar",
    "user_id": "varchar",
    "user_ipaddress": "varchar",
    "domain_userid": "varchar",
    "domain_sessionidx": "integer",
    "network_userid": "varchar",
    "geo_country": "char(2)",
    "geo_city": "varchar",
    "page_url": "varchar",
    "page_title": "varchar",
    "page_referrer": "varchar",
    "page_urlhost": "varchar",
    "page_urlpath": "varchar",
    "mkt_medium": "varchar",
    "mkt_source": "varchar",
    "mkt_campaign": "varchar",
    "se_category": "varchar",
    "se_action": "varchar",
    "se_label": "varchar",
    "se_property": "varchar",
    "se_value": "double precision",
    "tr_orderid": "varchar",
    "tr_total": "double precision",
    "tr_currency": "char(3)",
    "ti_orderid": "varchar",
    "ti_sku": "varchar",
    "ti_category": "varchar",
    "ti_price": "double precision",
    "ti_quantity": "integer",
    "pp_yoffset_max": "integer",
    "useragent": "varchar",
    "dvce_sent_tstamp": "timestamp",
    "domain_sessionid": "varchar",
    "derived_tstamp": "timestamp",
    "event_vendor": "varchar",
    "event_name": "varchar",
    "event_format": "varchar",
    "event_version": "varchar",
    "event_fingerprint": "varchar",
    "true_tstamp": "timestamp",
    "load_tstamp": "timestamp",
    "unstruct_event_com_snowplowanalytics_mobile_screen_view_1": "varchar",
    "contexts_com_snowplowanalytics_snowplow_web_page_1": "varchar",
    "contexts_com_snowplowanalytics_snowplow_client_session_1": "varchar",
    # The YAUAA enrichment's context: an enrichment's (derived) context, a column of its own on wide rows.
    "contexts_nl_basjes_yauaa_context_1": "varchar",
}


def event_id(n: int) -> str:
    return f"5e0a{n:04d}-7b1c-4e2d-9f3a-0c4d5e6f7a8b"


PAGE, PING, BASKET, ORDER, ITEM, CLICK, SCREEN, VIDEO, NO_ACTION, GUEST_SCREEN = (
    event_id(n) for n in range(1, 11)
)


def client_session(user_id: str) -> str:
    """The mobile trackers' client_session context (an array of one), as a wide-row loader writes it."""
    return (
        f'[{{"userId": "{user_id}", "sessionId": "4f1e2d3c-0b9a-4877-9665-5a4b3c2d1e0f", "sessionIndex": 3}}]'
    )


def yauaa(device_class: str) -> str:
    """The YAUAA enrichment's context (an array of one), as a wide-row loader writes it."""
    return (
        f'[{{"deviceClass": "{device_class}", "deviceName": "{device_class}", "agentClass": "Browser", '
        '"agentName": "Chrome", "operatingSystemName": "Windows NT"}]'
    )


def _event(
    eid: str,
    day: int,
    event: str,
    event_name: str,
    domain_userid: str | None,
    user_id: str | None,
    **extra: Any,
) -> dict[str, Any]:
    at = f"2025-04-{day:02d} 09:00:00"
    web = extra.get("platform", "web") == "web"
    return {
        "app_id": "shop",
        "platform": "web",
        "etl_tstamp": f"2025-04-{day:02d} 09:00:05",
        "collector_tstamp": f"2025-04-{day:02d} 09:00:01",
        "dvce_created_tstamp": at,
        "event": event,
        "event_id": eid,
        "name_tracker": "sp",
        "v_tracker": "js-3.23.0" if web else "ios-5.6.0",
        "v_collector": "ssc-2.10.0-kinesis",
        "v_etl": "snowplow-enrich-kinesis-3.9.0",
        "user_id": user_id,
        "user_ipaddress": "203.0.113.9",
        "domain_userid": domain_userid,
        "domain_sessionidx": 1,
        "network_userid": "0b7f1e52-6a0e-4c55-8c1e-5f3e2d1c0b9a",
        "geo_country": "GB",
        "geo_city": "Leeds",
        "useragent": "Mozilla/5.0",
        "dvce_sent_tstamp": at,
        "domain_sessionid": "3c2b1a09-8f7e-4d6c-b5a4-938271605f4e" if web else None,
        "derived_tstamp": at,
        "event_vendor": "com.snowplowanalytics.snowplow",
        "event_name": event_name,
        "event_format": "jsonschema",
        "event_version": "1-0-0",
        "event_fingerprint": f"fp{eid[:8]}",
        "load_tstamp": f"2025-04-{day:02d} 09:05:00",
        "contexts_com_snowplowanalytics_snowplow_web_page_1": '[{"id": "7d1c2b3a-0f9e-4d8c-a7b6-c5d4e3f2a1b0"}]'
        if web
        else None,
    } | extra


def _page() -> dict[str, Any]:
    return _event(
        PAGE, 1, "page_view", "page_view", "d-ann", None,
        page_url="https://shop.example.com/shoes?utm_source=news", page_title="Shoes",
        page_referrer="https://news.example.org/", page_urlhost="shop.example.com", page_urlpath="/shoes",
        mkt_source="news", mkt_medium="email", mkt_campaign="spring",
        contexts_nl_basjes_yauaa_context_1=yauaa("Desktop"),
    )  # fmt: skip


# Ann browses anonymously as the browser cookie d-ann: a page view (delivered twice, the second copy
# collected a minute later), a page ping, and a structured "add-to-basket" event. She logs in as user
# 7 and buys (a legacy ecommerce transaction and its item); the transaction was delivered twice and
# the copy collected first sits second in the table, with its own derived_tstamp. She then clicks a
# link (a self-describing event). Bob uses the iOS app (no browser cookie, user 8; the app's device user id
# is in the client_session context): a screen view. An
# anonymous "Play Video" event and a structured event without an action complete the world.
ORDER_SECOND_COPY = _event(
    ORDER, 2, "transaction", "transaction", "d-ann", "7",
    tr_orderid="1001", tr_total=99.0, tr_currency="GBP",
    collector_tstamp="2025-04-02 09:03:00", derived_tstamp="2025-04-02 09:02:59",
)  # fmt: skip
ORDER_FIRST_COPY = ORDER_SECOND_COPY | {
    "collector_tstamp": "2025-04-02 09:00:01",
    "derived_tstamp": "2025-04-02 09:00:00",
    "load_tstamp": "2025-04-02 09:30:00",
}
ROWS: list[dict[str, Any]] = [
    _page(),
    _page() | {"collector_tstamp": "2025-04-01 09:01:01", "load_tstamp": "2025-04-01 09:06:00"},
    _event(PING, 1, "page_ping", "page_ping", "d-ann", None, page_urlpath="/shoes", pp_yoffset_max=800),
    _event(
        BASKET, 1, "struct", "event", "d-ann", None,
        se_category="basket", se_action="add-to-basket", se_label="P-1", se_value=49.5,
    ),
    ORDER_SECOND_COPY,
    ORDER_FIRST_COPY,
    _event(
        ITEM, 2, "transaction_item", "transaction_item", "d-ann", "7",
        ti_orderid="1001", ti_sku="P-1", ti_category="Shoes", ti_price=49.5, ti_quantity=2,
    ),
    # YAUAA could not tell the device of this one: its platform stays the device type.
    _event(
        CLICK, 3, "unstruct", "link_click", "d-ann", "7", event_version="1-0-1",
        contexts_nl_basjes_yauaa_context_1=yauaa("Unknown"),
    ),
    _event(
        SCREEN, 4, "unstruct", "screen_view", None, "8", platform="mob", event_vendor="com.snowplowanalytics.mobile",
        unstruct_event_com_snowplowanalytics_mobile_screen_view_1=(
            '{"id": "9a8b7c6d-5e4f-4a3b-9c2d-1e0f9a8b7c6d", "name": "Home"}'
        ),
        contexts_com_snowplowanalytics_snowplow_client_session_1=client_session("c-bob-app"),
        contexts_nl_basjes_yauaa_context_1=yauaa("Phone"),
    ),
    # A guest in the app (no login, no browser cookie): the device user id is in the session context;
    # the screen view's JSON was cut short in transit.
    _event(
        GUEST_SCREEN, 6, "unstruct", "screen_view", None, None, platform="mob",
        event_vendor="com.snowplowanalytics.mobile",
        unstruct_event_com_snowplowanalytics_mobile_screen_view_1='{"id": "0c1d2e3f-4a5b-4c6d-8e7f-8091a2b3c4d5", "name": "Catal',
        contexts_com_snowplowanalytics_snowplow_client_session_1=client_session("c-guest-app"),
        contexts_nl_basjes_yauaa_context_1=yauaa("Tablet"),
    ),
    _event(VIDEO, 5, "struct", "event", "d-bob", None, se_category="media", se_action="Play Video"),
    _event(NO_ACTION, 5, "struct", "event", "d-bob", None, se_category="media"),
]  # fmt: skip


# The legacy shapes: older loaders and the Postgres loader write all of an event's contexts into one
# `contexts` column and its self-describing event into one `unstruct_event` column, each a
# self-describing JSON wrapping the entities (Snowplow's "contexts" and "unstruct_event" schemas); the
# RDB loader's shredding for Redshift writes each context into a table of its own, one row per entity,
# tied to the event by root_id / root_tstamp (its event_id / collector_tstamp).
_WIDE = {
    "unstruct_event_com_snowplowanalytics_mobile_screen_view_1": "iglu:com.snowplowanalytics.mobile/screen_view/jsonschema/1-0-0",
    "contexts_com_snowplowanalytics_snowplow_web_page_1": "iglu:com.snowplowanalytics.snowplow/web_page/jsonschema/1-0-0",
    "contexts_com_snowplowanalytics_snowplow_client_session_1": "iglu:com.snowplowanalytics.snowplow/client_session/jsonschema/1-0-1",
}  # fmt: skip
# The enrichments' contexts go to `derived_contexts`, in the same self-describing array as `contexts`.
_DERIVED = {"contexts_nl_basjes_yauaa_context_1": "iglu:nl.basjes/yauaa_context/jsonschema/1-0-4"}
IAB = {
    "schema": "iglu:com.iab.snowplow/spiders_and_robots/jsonschema/1-0-0",
    "data": {"spiderOrRobot": False, "category": "BROWSER", "reason": "PASSED_ALL", "primaryImpact": "NONE"},
}
CONTEXTS = "iglu:com.snowplowanalytics.snowplow/contexts/jsonschema/1-0-0"
UNSTRUCT = "iglu:com.snowplowanalytics.snowplow/unstruct_event/jsonschema/1-0-0"
MOBILE_CONTEXT = "iglu:com.snowplowanalytics.snowplow/mobile_context/jsonschema/1-0-2"
SHREDDED_SESSIONS = "com_snowplowanalytics_snowplow_client_session_1"
SHREDDED_SCREENS = "com_snowplowanalytics_mobile_screen_view_1"
SHREDDED_SCREEN_COLUMNS = (
    "schema_vendor varchar, schema_name varchar, schema_format varchar, schema_version varchar, "
    "root_id char(36), root_tstamp timestamp, ref_root varchar, ref_tree varchar, ref_parent varchar, "
    "id varchar, name varchar, type varchar, previous_name varchar"
)
SHREDDED_YAUAA = "nl_basjes_yauaa_context_1"
SHREDDED_YAUAA_COLUMNS = (
    "schema_vendor varchar, schema_name varchar, schema_format varchar, schema_version varchar, "
    "root_id char(36), root_tstamp timestamp, ref_root varchar, ref_tree varchar, ref_parent varchar, "
    "device_class varchar, device_name varchar, agent_class varchar, agent_name varchar, "
    "operating_system_name varchar"
)
SHREDDED_COLUMNS = (
    "schema_vendor varchar, schema_name varchar, schema_format varchar, schema_version varchar, "
    "root_id char(36), root_tstamp timestamp, ref_root varchar, ref_tree varchar, ref_parent varchar, "
    "user_id varchar, session_id varchar, session_index integer, previous_session_id varchar, "
    "storage_mechanism varchar"
)


def _legacy(row: dict[str, Any]) -> dict[str, Any]:
    """The row as a legacy loader writes it: the wide-row columns folded into `contexts` / `unstruct_event`,
    the enrichments' into `derived_contexts` (the IAB spiders and robots context first: YAUAA's is found by its
    schema, not its place). The guest's YAUAA context is in a shredded table only."""
    legacy = {name: value for name, value in row.items() if name not in _WIDE and name not in _DERIVED}
    derived = [
        {"schema": _DERIVED[name], "data": json.loads(row[name])[0]}
        for name in _DERIVED
        if row.get(name) and row["event_id"] != GUEST_SCREEN
    ]
    if derived:
        legacy["derived_contexts"] = json.dumps({"schema": CONTEXTS, "data": [IAB, *derived]})
    entities = [
        {"schema": _WIDE[name], "data": json.loads(row[name])[0]}
        for name in _WIDE
        if name.startswith("contexts_") and row.get(name)
    ]
    if (
        row["platform"] == "mob"
    ):  # the mobile trackers' device context comes first: found by schema, not place
        entities.insert(
            0,
            {
                "schema": MOBILE_CONTEXT,
                "data": {
                    "osType": "ios",
                    "osVersion": "17.4",
                    "deviceManufacturer": "Apple",
                    "deviceModel": "iPhone15,2",
                },
            },
        )
    if entities:
        legacy["contexts"] = json.dumps({"schema": CONTEXTS, "data": entities})
    screen_column = "unstruct_event_com_snowplowanalytics_mobile_screen_view_1"
    if row.get(screen_column):
        try:
            screen = json.dumps(
                {
                    "schema": UNSTRUCT,
                    "data": {"schema": _WIDE[screen_column], "data": json.loads(row[screen_column])},
                }
            )
        except json.JSONDecodeError:  # the guest's cut-short screen view stays cut short
            screen = f'{{"schema": "{UNSTRUCT}", "data": {{"schema": "{_WIDE[screen_column]}", "data": {row[screen_column]}'
        legacy["unstruct_event"] = screen
    return legacy


# In the legacy world the guest's contexts were cut short in transit too (its user id is lost from
# them); the shredded client_session table still has it, and the shredded screen view its name.
LEGACY_ROWS: list[dict[str, Any]] = [
    _legacy(row) | ({"contexts": '{"schema": "' + CONTEXTS + '", "data": [{"schema": "iglu:com.snowplowanalytics.snow'}
                   if row["event_id"] == GUEST_SCREEN else {})
    for row in ROWS
]  # fmt: skip
SHREDDED_ROWS: list[dict[str, Any]] = [
    {
        "schema_vendor": "com.snowplowanalytics.snowplow", "schema_name": "client_session", "schema_format": "jsonschema",
        "schema_version": "1-0-1", "root_id": GUEST_SCREEN, "root_tstamp": "2025-04-06 09:00:01", "ref_root": "events",
        "ref_tree": '["events","client_session"]', "ref_parent": "events", "user_id": "c-guest-app",
        "session_id": "4f1e2d3c-0b9a-4877-9665-5a4b3c2d1e0f", "session_index": 1, "storage_mechanism": "SQLITE",
    },
]  # fmt: skip
SHREDDED_YAUAA_ROWS: list[dict[str, Any]] = [
    {
        "schema_vendor": "nl.basjes", "schema_name": "yauaa_context", "schema_format": "jsonschema",
        "schema_version": "1-0-4", "root_id": GUEST_SCREEN, "root_tstamp": "2025-04-06 09:00:01", "ref_root": "events",
        "ref_tree": '["events","yauaa_context"]', "ref_parent": "events", "device_class": "Tablet",
        "device_name": "Apple iPad", "agent_class": "Mobile App", "agent_name": "Shop", "operating_system_name": "iPadOS",
    },
]  # fmt: skip
SHREDDED_SCREEN_ROWS: list[dict[str, Any]] = [
    {
        "schema_vendor": "com.snowplowanalytics.mobile", "schema_name": "screen_view", "schema_format": "jsonschema",
        "schema_version": "1-0-0", "root_id": GUEST_SCREEN, "root_tstamp": "2025-04-06 09:00:01", "ref_root": "events",
        "ref_tree": '["events","screen_view"]', "ref_parent": "events", "id": "0c1d2e3f-4a5b-4c6d-8e7f-8091a2b3c4d5",
        "name": "Catalogue", "type": "ListView", "previous_name": "Home",
    },
]  # fmt: skip


def _insert(
    execute: Callable[[str, list[Any]], Any], placeholder: str, table: str, row: dict[str, Any]
) -> None:
    names = ", ".join(row)
    marks = ", ".join(placeholder for _ in row)
    execute(f"insert into {SCHEMA}.{table} ({names}) values ({marks})", list(row.values()))


def create(
    execute: Callable[[str, list[Any]], Any],
    placeholder: str = "?",
    uuid_type: str = "varchar",
    legacy: bool = False,
) -> None:
    """Create the world's `events` table through `execute(sql, params)` (DuckDB `?`, psycopg2 `%s`);
    `uuid_type` is event_id's type (uuid on Snowplow's Postgres loader). `legacy` writes the legacy
    shapes instead of the wide-row columns: `contexts`, `derived_contexts` and `unstruct_event`, and the
    shredded client_session, screen_view and YAUAA tables."""
    execute(f"drop schema if exists {SCHEMA} cascade", [])
    execute(f"create schema {SCHEMA}", [])
    kinds = {name: kind for name, kind in COLUMNS.items() if not (legacy and name in _WIDE)}
    if legacy:
        kinds = {name: kind for name, kind in kinds.items() if name not in _DERIVED}
        kinds |= {"contexts": "varchar", "derived_contexts": "varchar", "unstruct_event": "varchar"}
    columns = ", ".join(f"{name} {kind.format(uuid=uuid_type)}" for name, kind in kinds.items())
    execute(f"create table {SCHEMA}.events ({columns})", [])
    for row in LEGACY_ROWS if legacy else ROWS:
        _insert(execute, placeholder, "events", row)
    if legacy:
        execute(f"create table {SCHEMA}.{SHREDDED_SESSIONS} ({SHREDDED_COLUMNS})", [])
        for row in SHREDDED_ROWS:
            _insert(execute, placeholder, SHREDDED_SESSIONS, row)
        execute(f"create table {SCHEMA}.{SHREDDED_SCREENS} ({SHREDDED_SCREEN_COLUMNS})", [])
        for row in SHREDDED_SCREEN_ROWS:
            _insert(execute, placeholder, SHREDDED_SCREENS, row)
        execute(f"create table {SCHEMA}.{SHREDDED_YAUAA} ({SHREDDED_YAUAA_COLUMNS})", [])
        for row in SHREDDED_YAUAA_ROWS:
            _insert(execute, placeholder, SHREDDED_YAUAA, row)


def presets_yaml() -> str:
    """The presets file that points Tessera at this world: the structured event's action mapped by
    event_names, its label and value read as the product and price by event_properties."""
    return (
        f"sources:\n  events:\n    preset: snowplow\n    schema: {SCHEMA}\n"
        "    event_names:\n      add-to-basket: product_added\n"
        "    event_properties:\n      product_id: se_label\n      price: se_value\n"
    )
