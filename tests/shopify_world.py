"""A tiny Shopify shop as Fivetran's Shopify connector lands it, written from Fivetran's documentation of the
connector's schema (not from our generator): one table per Shopify object keyed by Shopify's `id`, with
`_fivetran_synced` (when the row was written) on every table and `_fivetran_deleted` on those whose records
Shopify deletes; `order` is a reserved word, so the table is read quoted. tests/fivetran_world.py creates it
beside the other connectors' tables."""

from __future__ import annotations

from typing import Any

SCHEMA = "shopify_prod"

TABLES: dict[str, str] = {
    "customer": (
        "id bigint, email varchar, first_name varchar, last_name varchar, phone varchar, state varchar, "
        "orders_count integer, total_spent double precision, accepts_marketing boolean, "
        "email_marketing_consent_state varchar, verified_email boolean, tax_exempt boolean, "
        "default_address_id bigint, note varchar, currency varchar, created_at timestamp, updated_at timestamp, "
        "_fivetran_synced timestamp, _fivetran_deleted boolean"
    ),
    "customer_address": (
        "id bigint, customer_id bigint, first_name varchar, last_name varchar, address_1 varchar, "
        "address_2 varchar, city varchar, province varchar, province_code varchar, zip varchar, "
        "country varchar, country_code varchar, phone varchar, is_default boolean, _fivetran_synced timestamp"
    ),
    "order": (
        "id bigint, customer_id bigint, email varchar, name varchar, number integer, order_number integer, "
        "currency varchar, subtotal_price double precision, total_discounts double precision, "
        "total_tax double precision, total_price double precision, total_line_items_price double precision, "
        "financial_status varchar, fulfillment_status varchar, source_name varchar, location_id bigint, "
        "processed_at timestamp, cancelled_at timestamp, test boolean, created_at timestamp, "
        "updated_at timestamp, _fivetran_synced timestamp, _fivetran_deleted boolean"
    ),
    "order_line": (
        "id bigint, order_id bigint, product_id bigint, variant_id bigint, name varchar, title varchar, "
        "variant_title varchar, vendor varchar, sku varchar, price double precision, quantity integer, "
        'total_discount double precision, "index" integer, _fivetran_synced timestamp'
    ),
    "order_discount_code": (
        'order_id bigint, "index" integer, code varchar, amount double precision, type varchar, '
        "_fivetran_synced timestamp"
    ),
    "product": (
        "id bigint, title varchar, handle varchar, product_type varchar, vendor varchar, created_at timestamp, "
        "updated_at timestamp, _fivetran_synced timestamp, _fivetran_deleted boolean"
    ),
}

SYNCED = "2025-04-02 06:00:00"

# Ann (customer 501) has a default address and one web order of two lines, with a discount code; she
# subscribed to email under the newer consent field. Dan (502) was deleted in Shopify: Fivetran keeps his
# row with _fivetran_deleted = true, and his order too. Cara (503) bought in a store (source_name pos).
ROWS: dict[str, list[dict[str, Any]]] = {
    "customer": [
        {"id": 501, "email": "Ann.Lee@Fastmail.com", "first_name": "Ann", "last_name": "Lee", "phone": "07700 900123",
         "state": "enabled", "orders_count": 1, "accepts_marketing": None, "email_marketing_consent_state": "SUBSCRIBED",
         "default_address_id": 9001, "created_at": "2025-03-01 09:00:00", "updated_at": "2025-03-02 09:00:00",
         "_fivetran_synced": SYNCED, "_fivetran_deleted": False},
        {"id": 502, "email": "dan.roe@proton.me", "first_name": "Dan", "last_name": "Roe", "phone": None,
         "state": "disabled", "orders_count": 1, "accepts_marketing": True, "email_marketing_consent_state": None,
         "default_address_id": None, "created_at": "2025-03-01 10:00:00", "updated_at": "2025-03-03 10:00:00",
         "_fivetran_synced": SYNCED, "_fivetran_deleted": True},
        {"id": 503, "email": "cara.diaz@gmail.com", "first_name": "Cara", "last_name": "Diaz", "phone": None,
         "state": "enabled", "orders_count": 1, "accepts_marketing": False, "email_marketing_consent_state": None,
         "default_address_id": None, "created_at": "2025-03-01 11:00:00", "updated_at": "2025-03-01 11:00:00",
         "_fivetran_synced": SYNCED, "_fivetran_deleted": None},
    ],
    "customer_address": [
        {"id": 9000, "customer_id": 501, "address_1": "1 Old Street", "city": "Bath", "province": "Somerset",
         "zip": "ba1 1aa", "country": "United Kingdom", "country_code": "GB", "is_default": False,
         "_fivetran_synced": SYNCED},
        {"id": 9001, "customer_id": 501, "address_1": " 12  Mill Lane", "city": "Leeds", "province": "West Yorkshire",
         "zip": "ls1 4ap", "country": "United Kingdom", "country_code": "GB", "is_default": True,
         "_fivetran_synced": SYNCED},
    ],
    "order": [
        {"id": 7001, "customer_id": 501, "email": "ann.lee@fastmail.com", "name": "#1001", "number": 1,
         "order_number": 1001, "currency": "gbp", "subtotal_price": 60.0, "total_discounts": 6.0, "total_tax": 9.0,
         "total_price": 54.0, "total_line_items_price": 60.0, "financial_status": "partially_refunded",
         "fulfillment_status": "fulfilled", "source_name": "web", "location_id": None,
         "processed_at": "2025-03-02 10:00:00", "test": False, "created_at": "2025-03-02 10:00:00",
         "updated_at": "2025-03-04 10:00:00", "_fivetran_synced": SYNCED, "_fivetran_deleted": False},
        {"id": 7002, "customer_id": 502, "email": "dan.roe@proton.me", "name": "#1002", "number": 2,
         "order_number": 1002, "currency": "GBP", "subtotal_price": 20.0, "total_discounts": 0.0, "total_tax": 0.0,
         "total_price": 20.0, "total_line_items_price": 20.0, "financial_status": "paid",
         "fulfillment_status": None, "source_name": "web", "location_id": None,
         "processed_at": "2025-03-03 10:00:00", "test": False, "created_at": "2025-03-03 10:00:00",
         "updated_at": "2025-03-03 10:00:00", "_fivetran_synced": SYNCED, "_fivetran_deleted": True},
        {"id": 7003, "customer_id": 503, "email": "cara.diaz@gmail.com", "name": "#1003", "number": 3,
         "order_number": 1003, "currency": "GBP", "subtotal_price": 15.0, "total_discounts": 0.0, "total_tax": 0.0,
         "total_price": 15.0, "total_line_items_price": 15.0, "financial_status": "authorized",
         "fulfillment_status": None, "source_name": "pos", "location_id": 66001,
         "processed_at": "2025-03-04 15:00:00", "test": False, "created_at": "2025-03-04 15:00:00",
         "updated_at": "2025-03-04 15:00:00", "_fivetran_synced": SYNCED, "_fivetran_deleted": None},
    ],
    "order_line": [
        {"id": 8001, "order_id": 7001, "product_id": 3001, "variant_id": 4001, "name": "Trail Shoe - 42",
         "title": "Trail Shoe", "variant_title": "42", "price": 50.0, "quantity": 1, "index": 1,
         "_fivetran_synced": SYNCED},
        {"id": 8002, "order_id": 7001, "product_id": 3002, "variant_id": 4002, "name": "Wool Sock - M",
         "title": "Wool Sock", "variant_title": "M", "price": 5.0, "quantity": 2, "index": 2,
         "_fivetran_synced": SYNCED},
        {"id": 8003, "order_id": 7002, "product_id": 3002, "variant_id": 4002, "name": "Wool Sock - M",
         "title": "Wool Sock", "variant_title": "M", "price": 5.0, "quantity": 4, "index": 1,
         "_fivetran_synced": SYNCED},
        {"id": 8004, "order_id": 7003, "product_id": 3002, "variant_id": 4002, "name": "Wool Sock - M",
         "title": "Wool Sock", "variant_title": "M", "price": 5.0, "quantity": 3, "index": 1,
         "_fivetran_synced": SYNCED},
    ],
    "order_discount_code": [
        {"order_id": 7001, "index": 0, "code": "SPRING10", "amount": 6.0, "type": "percentage",
         "_fivetran_synced": SYNCED},
    ],
    "product": [
        {"id": 3001, "title": "Trail Shoe", "handle": "trail-shoe", "product_type": " Shoes", "vendor": "Acme",
         "_fivetran_synced": SYNCED, "_fivetran_deleted": False},
        {"id": 3002, "title": "Wool Sock", "handle": "wool-sock", "product_type": "Socks", "vendor": "Acme",
         "_fivetran_synced": SYNCED, "_fivetran_deleted": False},
    ],
}  # fmt: skip
