"""The raw table contract (docs/raw_schema.md) as pyarrow schemas.

Every table the generator writes is cast to the schema here before it is written, so the
Parquet files always carry exactly the documented columns, in the documented order and types.
"""

from __future__ import annotations

import pyarrow as pa

STR = pa.string()
TS = pa.timestamp("us")
INT = pa.int64()
FLOAT = pa.float64()
BOOL = pa.bool_()
DATE = pa.date32()

_EVENT_COMMON: list[tuple[str, pa.DataType]] = [
    ("id", STR),
    ("anonymous_id", STR),
    ("user_id", STR),
    ("context_device_id", STR),
    ("context_device_type", STR),
    ("context_library_name", STR),
    ("context_ip", STR),
    ("context_user_agent", STR),
    ("context_page_url", STR),
    ("context_campaign_source", STR),
    ("context_campaign_medium", STR),
    ("context_campaign_name", STR),
    ("received_at", TS),
    ("sent_at", TS),
    ("timestamp", TS),
    ("_loaded_at", TS),
]


def _s(cols: list[tuple[str, pa.DataType]]) -> pa.Schema:
    return pa.schema([pa.field(n, t) for n, t in cols])


SCHEMAS: dict[str, pa.Schema] = {
    "crm.contacts": _s(
        [
            ("contact_id", STR),
            ("first_name", STR),
            ("last_name", STR),
            ("email", STR),
            ("phone", STR),
            ("street", STR),
            ("city", STR),
            ("postcode", STR),
            ("region", STR),
            ("country", STR),
            ("job_title", STR),
            ("company", STR),
            ("date_of_birth", STR),
            ("created_at", STR),
            ("updated_at", STR),
            ("_loaded_at", TS),
        ]
    ),
    "shop.customers": _s(
        [
            ("customer_id", INT),
            ("email", STR),
            ("first_name", STR),
            ("last_name", STR),
            ("phone", STR),
            ("street", STR),
            ("city", STR),
            ("postcode", STR),
            ("region", STR),
            ("country", STR),
            ("accepts_marketing", BOOL),
            ("created_at", TS),
            ("updated_at", TS),
            ("_loaded_at", TS),
        ]
    ),
    "shop.orders": _s(
        [
            ("order_id", INT),
            ("customer_id", INT),
            ("email", STR),
            ("channel", STR),
            ("store_id", STR),
            ("currency", STR),
            ("subtotal_price", FLOAT),
            ("total_discounts", FLOAT),
            ("total_price", FLOAT),
            ("discount_code", STR),
            ("financial_status", STR),
            ("created_at", TS),
            ("_loaded_at", TS),
        ]
    ),
    "shop.order_items": _s(
        [
            ("order_item_id", INT),
            ("order_id", INT),
            ("product_id", STR),
            ("product_name", STR),
            ("category", STR),
            ("quantity", INT),
            ("price", FLOAT),
            ("_loaded_at", TS),
        ]
    ),
    "events.identifies": _s(
        _EVENT_COMMON
        + [
            ("email", STR),
            ("first_name", STR),
            ("last_name", STR),
            ("phone", STR),
        ]
    ),
    "events.tracks": _s(
        _EVENT_COMMON
        + [
            ("event", STR),
            ("event_text", STR),
            ("product_id", STR),
            ("category", STR),
            ("price", FLOAT),
            ("order_id", INT),
            ("revenue", FLOAT),
        ]
    ),
    "events.pages": _s(
        _EVENT_COMMON
        + [
            ("path", STR),
            ("url", STR),
            ("title", STR),
            ("referrer", STR),
        ]
    ),
    "pos.stores": _s(
        [
            ("store_id", STR),
            ("store_name", STR),
            ("city", STR),
            ("region", STR),
            ("country", STR),
            ("latitude", FLOAT),
            ("longitude", FLOAT),
            ("_loaded_at", TS),
        ]
    ),
    "pos.transactions": _s(
        [
            ("transaction_id", STR),
            ("store_id", STR),
            ("loyalty_card_number", STR),
            ("phone", STR),
            ("amount", FLOAT),
            ("currency", STR),
            ("item_count", INT),
            ("transacted_at", STR),
            ("_loaded_at", TS),
        ]
    ),
    "support.tickets": _s(
        [
            ("ticket_id", INT),
            ("requester_email", STR),
            ("requester_phone", STR),
            ("requester_name", STR),
            ("subject", STR),
            ("status", STR),
            ("priority", STR),
            ("channel", STR),
            ("created_at", STR),
            ("updated_at", STR),
            ("_loaded_at", TS),
        ]
    ),
    "support.survey_responses": _s(
        [
            ("response_id", INT),
            ("ticket_id", INT),
            ("requester_email", STR),
            ("survey_type", STR),
            ("score", INT),
            ("comment", STR),
            ("responded_at", STR),
            ("_loaded_at", TS),
        ]
    ),
    "esp.email_events": _s(
        [
            ("event_id", STR),
            ("email", STR),
            ("campaign_id", STR),
            ("campaign_name", STR),
            ("event_type", STR),
            ("url", STR),
            ("occurred_at", TS),
            ("_loaded_at", TS),
        ]
    ),
    "consent.consent_events": _s(
        [
            ("consent_event_id", STR),
            ("subject_type", STR),
            ("subject_value", STR),
            ("purpose", STR),
            ("channel", STR),
            ("status", STR),
            ("occurred_at", TS),
            ("source", STR),
            ("_loaded_at", TS),
        ]
    ),
    "reference.public_holidays": _s(
        [
            ("holiday_date", DATE),
            ("country", STR),
            ("region", STR),
            ("holiday_name", STR),
            ("_loaded_at", TS),
        ]
    ),
    "reference.weather_daily": _s(
        [
            ("weather_date", DATE),
            ("region", STR),
            ("temperature_c", FLOAT),
            ("precipitation_mm", FLOAT),
            ("condition", STR),
            ("_loaded_at", TS),
        ]
    ),
    "truth.truth": _s(
        [
            ("source", STR),
            ("table_name", STR),
            ("record_id", STR),
            ("person_id", INT),
        ]
    ),
}

#: Tables whose records belong to a person, with their record-id (primary key) column.
PERSON_TABLES: dict[str, str] = {
    "crm.contacts": "contact_id",
    "shop.customers": "customer_id",
    "shop.orders": "order_id",
    "shop.order_items": "order_item_id",
    "events.identifies": "id",
    "events.tracks": "id",
    "events.pages": "id",
    "pos.transactions": "transaction_id",
    "support.tickets": "ticket_id",
    "support.survey_responses": "response_id",
    "esp.email_events": "event_id",
    "consent.consent_events": "consent_event_id",
}

#: Every raw table (everything except truth), in the order the generator writes them.
RAW_TABLES: list[str] = [name for name in SCHEMAS if name != "truth.truth"]
