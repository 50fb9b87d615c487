"""The demo's loader tables, written with DuckDB: the generator's raw files for events, the shop, the CRM, the support
desk and the email tool written as Segment's warehouse schema and as Fivetran's Shopify, HubSpot, Zendesk
Support and Klaviyo connectors land them (which systems, schemas and presets: orchestration/generate/
loader_shapes.py). The DuckDB warehouse writes them into its file; the Postgres warehouse runs the same
writer on an in-memory DuckDB and copies each table it made to the server. Row for row and id for id the generator's, so the planted truth still scores identity;
what a shape cannot say is left out, as docs/sources.md ("The demo in the loaders' shapes") lists.

Hand-written SQL rather than a loader library: dlt writes its own shape (with `_dlt_id` columns), and the
point here is the shapes of Segment's and Fivetran's connectors, which no library writes for us.
"""

from __future__ import annotations

import re
from pathlib import Path

import duckdb

from orchestration.generate.loader_shapes import (
    LOAD_TIME_COLUMNS,
    LOADER_SHAPES,
    SOURCE_FILES,
    loader_schemas,
    raw_contract_tables,
)

#: The track() properties the generator writes; each per-event table gets those its event carries.
_TRACK_PROPERTIES = ("product_id", "category", "price", "order_id", "revenue")

#: Klaviyo's metric for each of the generator's email event types.
_KLAVIYO_METRICS = {
    "send": "Received Email",
    "open": "Opened Email",
    "click": "Clicked Email",
    "bounce": "Bounced Email",
    "unsubscribe": "Unsubscribed",
}


def write_loader_shapes(
    raw_dir: Path, con: duckdb.DuckDBPyConnection, systems: list[str] | None = None
) -> dict[str, dict[str, int]]:
    """Replace the demo's loader schemas in `con` with the raw files of `raw_dir` in the loaders' shapes
    (`systems`, default all), and drop the raw contract's tables of each system written there (raw_<system>,
    from a demo in the other shape; drop_raw_contract_copies where the loader's tables are written
    elsewhere): the loader's tables are now its only copy. Returns {system: {"schema.table": rows}} for the
    systems written; a system missing any of its raw files is not written (and stays on the demo preset)."""
    counts: dict[str, dict[str, int]] = {}
    for system, (_, schema) in LOADER_SHAPES.items():
        if systems is not None and system not in systems:
            continue
        files = {table: raw_dir / system / f"{table}.parquet" for table in SOURCE_FILES[system]}
        if not all(path.exists() for path in files.values()):
            continue
        views = {table: _stamped_view(con, system, table, path) for table, path in files.items()}
        con.execute(f"drop schema if exists {schema} cascade")
        con.execute(f"create schema {schema}")
        drop_raw_contract_copies(con, [system])
        for table, sql in _WRITERS[system](con, schema, views):
            con.execute(f"create table {schema}.{table} as {sql}")
            counts.setdefault(system, {})[f"{schema}.{table}"] = con.execute(
                f"select count(*) from {schema}.{table}"
            ).fetchall()[0][0]
    return counts


def drop_raw_contract_copies(con: duckdb.DuckDBPyConnection, systems: list[str]) -> None:
    """Drop the raw contract's tables of `systems` (raw_<system>, loaded from the raw files of a demo in the
    raw contract's shape): the systems' loader tables replace them."""
    for system in systems:
        for raw_schema, table in raw_contract_tables(system):
            con.execute(f'drop table if exists "{raw_schema}"."{table}"')


def drop_loader_shapes(con: duckdb.DuckDBPyConnection) -> None:
    """Drop every demo loader schema (a demo in the raw contract's shape holds none)."""
    for schema in loader_schemas():
        con.execute(f"drop schema if exists {schema} cascade")


def restamp_loader_shapes(con: duckdb.DuckDBPyConnection) -> None:
    """Move the load times of the demo's loader tables to end now, as a loader's next sync would leave
    them (the raw contract's files are stamped on every load the same way): a reused demo is not late."""
    rows = con.execute(
        "select table_schema, table_name, column_name from information_schema.columns "
        "where table_catalog = current_database() "
        f"and column_name in ({', '.join(repr(column) for column in LOAD_TIME_COLUMNS)}) "
        f"and table_schema in ({', '.join(repr(schema) for schema in loader_schemas())})"
    ).fetchall()
    for schema, table, column in rows:
        con.execute(
            f'update {schema}."{table}" set {column} = {column} + (cast(current_timestamp as timestamp) - '
            f'(select max({column}) from {schema}."{table}"))'
        )


def _stamped_view(con: duckdb.DuckDBPyConnection, system: str, table: str, path: Path) -> str:
    """A temporary view of one raw file whose load times end now, as a loader's would after writing it:
    the generator's own load times keep their order (a late delivery is still loaded later)."""
    view = f"_raw_{system}_{table}"
    con.execute(
        f"create or replace temp view {view} as select * replace (cast(_loaded_at + (cast(current_timestamp "
        "as timestamp) - max(_loaded_at) over ()) as timestamp) as _loaded_at) "
        f"from read_parquet('{str(path).replace(chr(39), chr(39) * 2)}')"
    )
    return view


def _segment(con: duckdb.DuckDBPyConnection, schema: str, files: dict[str, str]) -> list[tuple[str, str]]:
    """Segment's warehouse schema: every call keeps its message id (`id`), `original_timestamp` and the load
    time `uuid_ts`; `tracks` has no properties, which live in one table per event, named after it."""

    def common(*dropped: str) -> str:
        return f'* exclude (_loaded_at{"".join(", " + d for d in dropped)}), "timestamp" as original_timestamp, _loaded_at as uuid_ts'

    tables = [
        ("identifies", f"select {common()} from {files['identifies']}"),
        ("pages", f"select {common()} from {files['pages']}"),
        (
            "tracks",
            f"select {common(*_TRACK_PROPERTIES)} from {files['tracks']}",
        ),
        # The latest traits of each known user, as Segment upserts them from identify() calls.
        (
            "users",
            "select user_id as id, email, first_name, last_name, phone, received_at, _loaded_at as uuid_ts "
            f"from {files['identifies']} where user_id is not null "
            "qualify row_number() over (partition by user_id order by received_at desc, id) = 1",
        ),
    ]
    counted = ", ".join(f"count({p})" for p in _TRACK_PROPERTIES)
    events = con.execute(
        f"select event, {counted} from {files['tracks']} where event is not null group by event "
        "order by event"
    ).fetchall()
    for event, *present in events:
        # The connector's table name: the event name in snake case (it skips names it cannot write).
        table = re.sub(r"[^a-z0-9]+", "_", event.lower()).strip("_")
        if not table or table[0].isdigit() or table in {name for name, _ in tables}:
            continue
        carried = [p for p, n in zip(_TRACK_PROPERTIES, present, strict=True) if n]
        dropped = [p for p in _TRACK_PROPERTIES if p not in carried]
        tables.append(
            (
                table,
                f"select {common(*dropped)} from {files['tracks']} where event = "
                f"'{event.replace(chr(39), chr(39) * 2)}'",
            )
        )
    return tables


def _shopify(_con: duckdb.DuckDBPyConnection, _schema: str, files: dict[str, str]) -> list[tuple[str, str]]:
    """Fivetran's Shopify connector: `customer` with its default address in `customer_address`, `order`
    (source_name `pos` for a till, with its location), `order_line`, `product` and `order_discount_code`;
    `_fivetran_synced` and `_fivetran_deleted` on each."""
    synced = "_loaded_at as _fivetran_synced, false as _fivetran_deleted"
    customers, orders, items = files["customers"], files["orders"], files["order_items"]
    return [
        (
            "customer",
            "select customer_id as id, email, first_name, last_name, phone, accepts_marketing, "
            "case when accepts_marketing then 'subscribed' else 'not_subscribed' end "
            "as email_marketing_consent_state, customer_id as default_address_id, created_at, updated_at, "
            f"{synced} from {customers}",
        ),
        (
            "customer_address",
            "select customer_id as id, customer_id, first_name, last_name, street as address_1, city, "
            "postcode as zip, region as province, country as country_code, true as is_default, "
            f"{synced} from {customers} "
            "where coalesce(street, city, postcode, region, country) is not null",
        ),
        (
            "order",
            "select order_id as id, customer_id, email, "
            "case when channel = 'store' then 'pos' else 'web' end as source_name, "
            "store_id as location_id, currency, subtotal_price, total_discounts, total_price, "
            "financial_status, created_at, "
            f"{synced} from {orders}",
        ),
        (
            "order_discount_code",
            "select order_id, 0 as \"index\", discount_code as code, 'percentage' as type, "
            f"_loaded_at as _fivetran_synced from {orders} where discount_code is not null",
        ),
        (
            "order_line",
            "select order_item_id as id, order_id, product_id, product_name as title, quantity, price, "
            f"_loaded_at as _fivetran_synced from {items}",
        ),
        (
            "product",
            "select product_id as id, any_value(product_name) as title, any_value(category) as product_type, "
            "max(_loaded_at) as _fivetran_synced, false as _fivetran_deleted "
            f"from {items} where product_id is not null group by product_id",
        ),
    ]


def _hubspot(_con: duckdb.DuckDBPyConnection, _schema: str, files: dict[str, str]) -> list[tuple[str, str]]:
    """Fivetran's HubSpot connector: one `contact` row per contact, its properties as `property_<name>`
    columns, typed (a created date that is not a date is null, as the connector cannot land it)."""
    return [
        (
            "contact",
            "select contact_id as id, first_name as property_firstname, last_name as property_lastname, "
            "email as property_email, phone as property_phone, street as property_address, "
            "city as property_city, postcode as property_zip, region as property_state, "
            "country as property_hs_country_region_code, job_title as property_jobtitle, "
            "company as property_company, date_of_birth as property_date_of_birth, "
            "try_cast(created_at as timestamp) as property_createdate, "
            "try_cast(updated_at as timestamp) as property_lastmodifieddate, "
            "false as is_deleted, _loaded_at as _fivetran_synced, false as _fivetran_deleted "
            f"from {files['contacts']}",
        ),
    ]


def _zendesk(_con: duckdb.DuckDBPyConnection, _schema: str, files: dict[str, str]) -> list[tuple[str, str]]:
    """Fivetran's Zendesk Support connector: `user` (one per requester as the ticket named them), `ticket`
    by requester_id with its channel in via_channel (a phone ticket is `voice`), and `satisfaction_rating`
    (good or bad) for the CSAT answers."""
    tickets, surveys = files["tickets"], files["survey_responses"]
    requesters = (
        "select requester_email, requester_phone, requester_name, "
        "dense_rank() over (order by requester_email, requester_phone, requester_name) as user_id, "
        f"max(_loaded_at) over () as synced from {tickets}"
    )
    return [
        (
            "user",
            "select distinct user_id as id, requester_name as name, requester_email as email, "
            "requester_phone as phone, 'end-user' as role, synced as _fivetran_synced, "
            f"false as _fivetran_deleted from ({requesters})",
        ),
        (
            "ticket",
            "select ticket.ticket_id as id, requesters.user_id as requester_id, ticket.subject, ticket.status, "
            "ticket.priority, case when ticket.channel = 'phone' then 'voice' else ticket.channel end "
            "as via_channel, try_cast(ticket.created_at as timestamp) as created_at, "
            "try_cast(ticket.updated_at as timestamp) as updated_at, ticket._loaded_at as _fivetran_synced, "
            f"false as _fivetran_deleted from {tickets} as ticket "
            f"left join (select distinct * exclude (synced) from ({requesters})) as requesters "
            "on ticket.requester_email is not distinct from requesters.requester_email "
            "and ticket.requester_phone is not distinct from requesters.requester_phone "
            "and ticket.requester_name is not distinct from requesters.requester_name",
        ),
        (
            "satisfaction_rating",
            "select survey.response_id as id, survey.ticket_id, "
            "(select min(user_id) from (" + requesters + ") as requesters "
            "where requesters.requester_email = survey.requester_email) as requester_id, "
            "case when survey.score >= 4 then 'good' when survey.score <= 2 then 'bad' else 'offered' end "
            "as score, survey.comment, try_cast(survey.responded_at as timestamp) as created_at, "
            "try_cast(survey.responded_at as timestamp) as updated_at, "
            "survey._loaded_at as _fivetran_synced, false as _fivetran_deleted "
            f"from {surveys} as survey where survey.survey_type = 'csat'",
        ),
    ]


def _klaviyo(_con: duckdb.DuckDBPyConnection, _schema: str, files: dict[str, str]) -> list[tuple[str, str]]:
    """Fivetran's Klaviyo connector: `person` per recipient, `event` per metric event (the email's link in
    property_url), `metric` naming each metric and `campaign` naming each campaign."""
    events = files["email_events"]
    metrics = " union all ".join(
        f"select '{event_type}' as event_type, 'M{n}' as id, '{name}' as name"
        for n, (event_type, name) in enumerate(_KLAVIYO_METRICS.items(), start=1)
    )
    people = (
        "select email, 'P' || lpad(cast(dense_rank() over (order by email) as varchar), 8, '0') as id "
        f"from (select distinct email from {events} where email is not null)"
    )
    return [
        (
            "person",
            f"select people.id, people.email, (select max(_loaded_at) from {events}) "
            f"as _fivetran_synced, false as _fivetran_deleted from ({people}) as people",
        ),
        ("metric", f"select id, name, 'Klaviyo' as integration_name from ({metrics})"),
        (
            "campaign",
            "select campaign_id as id, any_value(campaign_name) as name, max(_loaded_at) as _fivetran_synced "
            f"from {events} where campaign_id is not null group by campaign_id",
        ),
        (
            "event",
            "select email_event.event_id as id, people.id as person_id, metric.id as metric_id, "
            "email_event.campaign_id, email_event.url as property_url, email_event.occurred_at as timestamp, "
            "email_event._loaded_at as _fivetran_synced, false as _fivetran_deleted "
            f"from {events} as email_event left join ({people}) as people "
            "on email_event.email = people.email "
            f"left join ({metrics}) as metric on email_event.event_type = metric.event_type",
        ),
    ]


_WRITERS = {"events": _segment, "shop": _shopify, "crm": _hubspot, "support": _zendesk, "esp": _klaviyo}
