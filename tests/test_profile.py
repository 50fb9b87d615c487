"""`tessera profile`: one customer's 360° view shows every kind of activity and what Tessera decided."""

from __future__ import annotations

from rich.console import Console

from orchestration.identity.profile import render_profile
from orchestration.warehouse.registry import get_warehouse


def test_profile_shows_every_channel_orders_traits_audiences_and_consent(published, settings):
    query = get_warehouse(settings).query_published
    # A customer with email and web events, an order, an audience membership and a consent decision.
    (customer_id, email), *_ = query(
        "select customers.customer_id, customers.email from customers "
        "where customers.email is not null "
        "and exists (select 1 from events where events.customer_id = customers.customer_id "
        "and events.event_channel = 'email') "
        "and exists (select 1 from events where events.customer_id = customers.customer_id "
        "and events.event_channel = 'web') "
        "and exists (select 1 from orders where orders.customer_id = customers.customer_id) "
        "and exists (select 1 from audience_memberships as m where m.customer_id = customers.customer_id) "
        "and exists (select 1 from consent_current as c where c.customer_id = customers.customer_id) "
        "order by customers.customer_id limit 1"
    )
    (order_id,) = query(
        f"select order_id from orders where customer_id = '{customer_id}' order by ordered_at desc, order_id limit 1"
    )[0]
    audiences = [
        a
        for (a,) in query(
            f"select audience_name from audience_memberships where customer_id = '{customer_id}'"
        )
    ]
    purposes = [
        p
        for (p,) in query(f"select consent_purpose from consent_current where customer_id = '{customer_id}'")
    ]
    (orders_count,) = query(f"select orders_count from customer_traits where customer_id = '{customer_id}'")[
        0
    ]

    console = Console(record=True, width=400)
    assert render_profile(settings, f"email:{email}", console, event_limit=5) == customer_id
    text = console.export_text()

    for section in ("Events by channel", "Orders", "Traits", "Audiences", "Consent", "Syncs"):
        assert section in text, section
    lines = text.splitlines()
    # The email tool's events, by channel and source (not only the email address in the header).
    assert any(line.startswith("│ email ") and "│ esp " in line for line in lines)
    assert order_id in text
    assert any(line.startswith("│ orders_count ") and f"│ {orders_count} " in line for line in lines)
    for audience in audiences:
        row = next(line for line in lines if line.startswith(f"│ {audience} "))
        assert "reachable" in row or "held out" in row
        met = query(
            "select condition_name from audience_explanations "
            f"where customer_id = '{customer_id}' and audience_name = '{audience}' and condition_value"
        )
        assert all(name in row for (name,) in met), row
    for purpose in purposes:
        assert purpose in text


def test_sync_history_of_one_customer_is_read_from_the_analysts_copy(tmp_path):
    """The profile's sync section: one key's record-log rows, newest first, from the read-only copy;
    nothing (not an error) before any sync ran."""
    import duckdb

    from orchestration.sync.stores import duckdb_location, record_history

    history = tmp_path / "sync_history.duckdb"
    location = duckdb_location(tmp_path / "w.duckdb", tmp_path / "state.duckdb", history)
    assert record_history(location, "cus_1") == []
    con = duckdb.connect(str(history))
    con.execute(
        "create table sync_record_log (sync_name varchar, run_id varchar, key varchar, operation varchar, "
        "status varchar, error varchar, consent_basis varchar, idempotency_key varchar, logged_at timestamp)"
    )
    con.execute(
        "insert into sync_record_log values "
        "('cart_abandoners_email', 'r1', 'cus_1', 'upsert', 'succeeded', null, 'granted', 'k1', '2026-01-01 10:00'),"
        "('cart_abandoners_email', 'r2', 'cus_1', 'none', 'held_out', 'holdout', null, null, '2026-01-02 10:00'),"
        "('customer_export', 'r1', 'cus_2', 'upsert', 'succeeded', null, 'granted', 'k1', '2026-01-01 10:00')"
    )
    con.close()
    rows = record_history(location, "cus_1")
    assert [(r[1], r[3], r[4]) for r in rows] == [
        ("cart_abandoners_email", "held_out", "holdout"),
        ("cart_abandoners_email", "succeeded", None),
    ]
