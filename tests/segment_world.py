"""A tiny Segment-shaped warehouse, written from Segment's warehouse-schema documentation (not from our
generator): `tracks` without properties, one table per event holding its properties, `identifies` with
traits as columns, `pages`, `screens`, `aliases`, `users`, `groups` and `accounts`, as the connector creates them
(a column only once a value arrives, so tables differ in their context_ columns)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

SCHEMA = "segment_prod"

# Columns of every call table (docs: "Warehouse Schemas"; id is the messageId, uuid_ts the load time).
_CALL = (
    "id varchar, anonymous_id varchar, user_id varchar, context_ip varchar, context_library_name varchar, "
    "context_library_version varchar, context_user_agent varchar, received_at timestamp, sent_at timestamp, "
    '"timestamp" timestamp, original_timestamp timestamp, uuid_ts timestamp'
)
_TRACK = _CALL + ", event varchar, event_text varchar, context_page_url varchar"

TABLES: dict[str, str] = {
    "tracks": _TRACK,
    # Product Viewed: product_id, category, price (the e-commerce spec's property names).
    "product_viewed": _TRACK
    + ", product_id varchar, category varchar, price double precision, currency varchar",
    # Order Completed: order_id, revenue (an order id is a string in the spec).
    "order_completed": _TRACK + ", order_id varchar, revenue double precision, total double precision",
    # A custom event, mapped to order_completed by the preset's event_names; its order_id came in as a number.
    "purchase": _TRACK + ", order_id bigint, revenue double precision",
    "identifies": _CALL
    + ", email varchar, first_name varchar, last_name varchar, phone varchar, plan varchar",
    "pages": _CALL
    + ", context_page_url varchar, name varchar, path varchar, referrer varchar, search varchar, "
    "title varchar, url varchar",
    "screens": _CALL
    + ", context_device_type varchar, context_device_id varchar, context_os_name varchar, name varchar",
    "aliases": _CALL + ", previous_id varchar",
    "users": "id varchar, email varchar, first_name varchar, received_at timestamp, uuid_ts timestamp",
    "groups": _CALL + ", group_id varchar, name varchar",
    # The latest traits of each group, upserted on every group() call (docs: the `accounts` table).
    "accounts": "id varchar, name varchar, industry varchar, plan varchar, received_at timestamp, uuid_ts timestamp",
}


def _call(
    message_id: str, day: int, anonymous_id: str | None, user_id: str | None, **extra: Any
) -> dict[str, Any]:
    at = f"2025-03-{day:02d} 10:00:00"
    return {
        "id": message_id,
        "anonymous_id": anonymous_id,
        "user_id": user_id,
        "context_ip": "203.0.113.7",
        "context_library_name": "analytics.js",
        "context_library_version": "4.1.0",
        "context_user_agent": "Mozilla/5.0",
        "received_at": at,
        "sent_at": at,
        "timestamp": at,
        "original_timestamp": at,
        "uuid_ts": f"2025-03-{day:02d} 11:00:00",
    } | extra


def _track(
    message_id: str, day: int, anonymous_id: str, user_id: str | None, event: str, text: str, **props: Any
):  # type: ignore[no-untyped-def]
    return _call(message_id, day, anonymous_id, user_id, event=event, event_text=text) | props


# Ann browses anonymously (device a-ann), logs in as user 7 and orders; the order's message is
# delivered twice (the second copy loaded an hour later). A second device (a-ann-phone) is tied to
# her only by an alias call. Bob buys through a custom "Purchase" event.
VIEWED = _track("m-view", 1, "a-ann", None, "product_viewed", "Product Viewed")
ORDERED = _track("m-order", 2, "a-ann", "7", "order_completed", "Order Completed")
ORDERED_AGAIN = ORDERED | {"received_at": "2025-03-02 10:05:00", "uuid_ts": "2025-03-02 12:00:00"}
PURCHASED = _track("m-purchase", 3, "a-bob", "8", "purchase", "Purchase")
# A name with a quote, mapped by event_names; it has no per-event table (none was created yet).
BASKET = _track("m-basket", 3, "a-bob", "8", "bobs_basket", "Bob's Basket")

ROWS: dict[str, list[dict[str, Any]]] = {
    "tracks": [VIEWED, ORDERED, ORDERED_AGAIN, PURCHASED, BASKET],
    "product_viewed": [VIEWED | {"product_id": "P-1", "category": " Shoes", "price": 49.5, "currency": "GBP"}],
    "order_completed": [ORDERED | {"order_id": "1001", "revenue": 99.0, "total": 104.0},
                        ORDERED_AGAIN | {"order_id": "1001", "revenue": 99.0, "total": 104.0}],
    "purchase": [PURCHASED | {"order_id": 2002, "revenue": 20.0}],
    "identifies": [
        _call("m-identify", 2, "a-ann", "7", email="Ann.Lee@Fastmail.com", first_name="Ann", last_name="Lee"),
        _call("m-identify-bob", 3, "a-bob", "8", email="bob.ray@proton.me", first_name="Bob", last_name="Ray"),
    ],
    "pages": [
        _call("m-page", 4, "a-ann-phone", None, path="/shoes", url="https://shop.example.com/shoes", title="Shoes"),
        _call("m-page", 4, "a-ann-phone", None, path="/shoes", url="https://shop.example.com/shoes", title="Shoes")
        | {"uuid_ts": "2025-03-04 12:00:00"},
    ],
    "screens": [
        _call("m-screen", 5, "a-ann-phone", "7", name="Home", context_device_type="ios", context_os_name="iOS")
        | {"context_library_name": "analytics-swift"}
    ],
    "aliases": [_call("m-alias", 5, None, "7", previous_id="a-ann-phone")],
    # Cy's identify calls are gone from the warehouse (retention); the users table still has her traits.
    "users": [
        {"id": "7", "email": "ann.lee@fastmail.com", "first_name": "Ann", "received_at": "2025-03-02 10:00:00"},
        {"id": "9", "email": "Cy.Diaz@Posteo.de", "first_name": "Cy", "received_at": "2025-03-06 10:00:00"},
    ],
    # Ann's company renamed itself between two calls; an unknown device joins another; a call lost its group.
    "groups": [
        _call("m-group", 2, "a-ann", "7", group_id="acme", name="Acme Ltd"),
        _call("m-group-renamed", 6, "a-ann", "7", group_id="acme", name="Acme Limited"),
        _call("m-group-stranger", 6, "a-nobody", None, group_id="globex", name="Globex"),
        _call("m-group-blank", 6, "a-bob", "8", group_id="  ", name="Initech"),
    ],
    # The groups' latest state: Globex renamed itself in a call the warehouse no longer keeps; Umbrella's
    # calls are all gone. Acme's row was upserted twice (the older copy is stale); one row lost its id.
    "accounts": [
        {"id": "acme", "name": "Acme Ltd", "industry": "Retail", "received_at": "2025-03-02 10:00:00",
         "uuid_ts": "2025-03-02 11:00:00"},
        {"id": "acme", "name": "Acme Limited", "industry": "Retail", "plan": "enterprise",
         "received_at": "2025-03-06 10:00:00", "uuid_ts": "2025-03-06 11:00:00"},
        {"id": "globex", "name": "Globex Corporation", "received_at": "2025-03-07 10:00:00",
         "uuid_ts": "2025-03-07 11:00:00"},
        {"id": "umbrella", "name": "Umbrella", "plan": "free", "received_at": "2025-03-01 10:00:00",
         "uuid_ts": "2025-03-01 11:00:00"},
        {"id": " ", "name": "Nameless", "received_at": "2025-03-01 10:00:00", "uuid_ts": "2025-03-01 11:00:00"},
    ],
}  # fmt: skip


def create(
    execute: Callable[[str, list[Any]], Any],
    placeholder: str = "?",
    prefix: str = "",
    with_time_zone: bool = False,
    without: tuple[str, ...] = (),
) -> None:
    """Create the world's tables, named <prefix><table>, through `execute(sql, params)` (DuckDB `?`,
    psycopg2 `%s`). `with_time_zone` types the timestamps `timestamp with time zone`, as the connector
    does on Postgres; the values are UTC either way. `without` names tables the loader has not created."""
    schema = SCHEMA
    execute(f"drop schema if exists {schema} cascade", [])
    execute(f"create schema {schema}", [])
    for table, columns in TABLES.items():
        if table in without:
            continue
        if with_time_zone:
            columns = columns.replace(" timestamp", " timestamp with time zone")
        execute(f"create table {schema}.{prefix}{table} ({columns})", [])
        for row in ROWS[table]:
            names = ", ".join(f'"{name}"' for name in row)
            marks = ", ".join(placeholder for _ in row)
            values = [
                f"{value}+00:00"
                if with_time_zone and isinstance(value, str) and value.startswith("2025-")
                else value
                for value in row.values()
            ]
            execute(f"insert into {schema}.{prefix}{table} ({names}) values ({marks})", values)


def presets_yaml(preset: str = "segment", prefix: str = "", database_file: str | None = None) -> str:
    """The presets file that points Tessera at this world; `database_file` (a path relative to the presets
    file) when the world is a loader's own DuckDB file, declared as the database `segment`."""
    declared = f"databases:\n  segment: {database_file}\n" if database_file else ""
    database = "    database: segment\n" if database_file else ""
    return (
        f"{declared}sources:\n  events:\n    preset: {preset}\n{database}    schema: {SCHEMA}\n"
        f"    table_prefix: '{prefix}'\n"
        '    event_names:\n      Purchase: order_completed\n      "Bob\'s Basket": product_added\n'
    )
