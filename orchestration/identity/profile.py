"""`tessera profile TYPE:VALUE`: one customer's 360° view in the terminal, from the published warehouse."""

from __future__ import annotations

from collections.abc import Callable

import phonenumbers
import yaml  # type: ignore[import-untyped]
from rich.console import Console
from rich.panel import Panel
from rich.table import Table

from orchestration.settings import PROJECT_DIR, Settings
from orchestration.warehouse.registry import get_warehouse

Query = Callable[[str], list[tuple]]

IDENTIFIER_TYPES = ("email", "phone", "crm_contact_id", "shop_customer_id", "loyalty_card", "anonymous_id")
ALIASES = {"user_id": "shop_customer_id", "crm": "crm_contact_id", "shop": "shop_customer_id"}


class CustomerNotFound(LookupError):
    """No customer holds the identifier (or it is malformed)."""


def sql_literal(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def normalise_identifier(text: str, default_region: str = "GB") -> tuple[str, str]:
    """`TYPE:VALUE` → (type, value normalised the way staging normalises it)."""
    if ":" not in text:
        raise CustomerNotFound(f"expected TYPE:VALUE (types: {', '.join(IDENTIFIER_TYPES)}), got {text!r}")
    kind, value = text.split(":", 1)
    kind = ALIASES.get(kind.strip().lower(), kind.strip().lower())
    value = value.strip()
    if kind not in IDENTIFIER_TYPES:
        raise CustomerNotFound(f"unknown identifier type {kind!r}; use one of {', '.join(IDENTIFIER_TYPES)}")
    if kind == "email":
        value = "".join(value.split()).lower()
    elif kind == "phone":
        try:
            value = phonenumbers.format_number(
                phonenumbers.parse(value, default_region), phonenumbers.PhoneNumberFormat.E164
            )
        except phonenumbers.NumberParseException as exc:
            raise CustomerNotFound(f"{value!r} is not a phone number: {exc}") from None
    elif kind == "loyalty_card":
        value = "".join(ch for ch in value if ch.isalnum()).upper()
    return kind, value


def _table(title: str, columns: list[str], rows: list[tuple]) -> Table:
    table = Table(title=title, title_justify="left")
    for column in columns:
        table.add_column(column)
    for row in rows:
        table.add_row(*("" if v is None else str(v) for v in row))
    return table


def render_profile(settings: Settings, identifier: str, console: Console, event_limit: int = 10) -> str:
    kind, value = normalise_identifier(identifier)
    warehouse = get_warehouse(settings)
    query = warehouse.query_published
    found = query(
        "select customer_id from customer_identifiers "
        f"where identifier_type = {sql_literal(kind)} and identifier_value = {sql_literal(value)}"
    )
    if not found:
        refused = query(
            "select guard, reason from identity_guard_audit "
            f"where identifier_type = {sql_literal(kind)} and identifier_value = {sql_literal(value)}"
        )
        why = f" It is refused by the {refused[0][0]} guard: {refused[0][1]}." if refused else ""
        raise CustomerNotFound(f"no customer holds {kind}:{value}.{why}")
    customer_id = found[0][0]
    cid = sql_literal(customer_id)
    (profile,) = query(
        "select first_name, last_name, name_source, email, email_source, phone, phone_source, "
        "street, city, postcode, country_code, address_source, first_seen_at, last_seen_at, "
        f"source_record_count, source_count, customer_created_at from customers where customer_id = {cid}"
    )
    (
        first,
        last,
        name_src,
        email,
        email_src,
        phone,
        phone_src,
        street,
        city,
        postcode,
        country,
        address_src,
        first_seen,
        last_seen,
        n_records,
        n_sources,
        created,
    ) = profile
    console.print(
        Panel(
            f"[bold]{first or ''} {last or ''}[/bold]  ({name_src or 'no name'})\n"
            f"email   {email or '-'}  ({email_src or '-'})\n"
            f"phone   {phone or '-'}  ({phone_src or '-'})\n"
            f"address {', '.join(str(p) for p in (street, city, postcode, country) if p) or '-'}  ({address_src or '-'})\n"
            f"seen    {first_seen} → {last_seen}; {n_records} records from {n_sources} sources; id since {created}",
            title=f"customer {customer_id}",
        )
    )
    console.print(
        _table(
            "Identifiers",
            ["type", "value", "sources", "records", "last seen"],
            query(
                "select identifier_type, identifier_value, seen_in_sources, record_count, last_seen_at "
                f"from customer_identifiers where customer_id = {cid} order by 1, 2"
            ),
        )
    )
    console.print(
        _table(
            "Source records",
            ["source", "table", "records", "latest"],
            query(
                "select source_name, table_name, count(*), max(observed_at) from customer_source_records "
                f"where customer_id = {cid} group by 1, 2 order by 1, 2"
            ),
        )
    )
    console.print(
        _table(
            "Why these belong together (identity_links)",
            ["identifier", "linked to", "rule", "record", "records"],
            query(
                "select identifier_type_a || ':' || identifier_value_a, identifier_type_b || ':' || identifier_value_b, "
                "link_rule, record_id, supporting_records from identity_links "
                f"where customer_id = {cid} order by first_linked_at limit 25"
            ),
        )
    )
    console.print(
        _table(
            "Merges and splits",
            ["kind", "old id", "new id", "reason", "at"],
            query(
                "select change_kind, old_customer_id, new_customer_id, reason, changed_at from customer_id_history "
                f"where old_customer_id = {cid} or new_customer_id = {cid} order by changed_at"
            ),
        )
    )
    _activity(query, cid, console, event_limit)
    _marketing(settings, query, str(customer_id), console)
    return str(customer_id)


def _contract_columns(model: str) -> list[str]:
    """A mart's columns as its enforced contract lists them (models/marts/**/_*.yml)."""
    for path in sorted((PROJECT_DIR / "models" / "marts").glob("*/_*__models.yml")):
        for entry in (yaml.safe_load(path.read_text()) or {}).get("models", []):
            if entry.get("name") == model:
                return [str(column["name"]) for column in entry.get("columns", [])]
    return []


def _activity(query: Query, cid: str, console: Console, event_limit: int) -> None:
    """What the customer did: events of every channel (web, app, email, store), and orders."""
    console.print(
        _table(
            "Events by channel",
            ["channel", "source", "events", "kinds", "first", "latest"],
            query(
                "select event_channel, source_name, count(*), count(distinct event_name), min(occurred_at), "
                f"max(occurred_at) from events where customer_id = {cid} group by 1, 2 order by 1, 2"
            ),
        )
    )
    console.print(
        _table(
            f"Recent events (last {event_limit})",
            ["at", "channel", "event", "source", "product", "revenue"],
            query(
                "select occurred_at, event_channel, event_name, source_name, product_id, revenue from events "
                f"where customer_id = {cid} order by occurred_at desc, event_id limit {int(event_limit)}"
            ),
        )
    )
    console.print(
        _table(
            f"Orders (last {event_limit})",
            ["at", "order", "source", "channel", "store", "items", "total", "status"],
            query(
                "select ordered_at, order_id, source_name, order_channel, store_id, item_count, total_amount, "
                f"financial_status from orders where customer_id = {cid} "
                f"order by ordered_at desc, order_id limit {int(event_limit)}"
            ),
        )
    )


def _marketing(settings: Settings, query: Query, customer_id: str, console: Console) -> None:
    """What Tessera knows and decided about the customer: traits, predictions, audiences, consent."""
    cid = sql_literal(customer_id)
    traits = [c for c in _contract_columns("customer_traits") if c != "customer_id"]
    if traits:
        found = query(f"select {', '.join(traits)} from customer_traits where customer_id = {cid}")
        values = found[0] if found else (None,) * len(traits)
        console.print(
            _table(
                "Traits",
                ["trait", "value"],
                [(t, v) for t, v in zip(traits, values, strict=True) if v is not None],
            )
        )
    predictions = [c for c in _contract_columns("customer_predictions") if c != "customer_id"]
    if predictions:
        found = query(f"select {', '.join(predictions)} from customer_predictions where customer_id = {cid}")
        if found:
            pairs = [(p, v) for p, v in zip(predictions, found[0], strict=True) if v is not None]
            console.print(_table("Predictions", ["prediction", "value"], pairs))
    met: dict[str, list[str]] = {}
    unmet: dict[str, list[str]] = {}
    for audience, condition, value in query(
        "select audience_name, condition_name, condition_value from audience_explanations "
        f"where customer_id = {cid} order by audience_name, condition_position"
    ):
        (met if value else unmet).setdefault(str(audience), []).append(str(condition))
    memberships = query(
        "select audience_name, is_holdout, is_global_holdout from audience_memberships "
        f"where customer_id = {cid} order by 1"
    )
    console.print(
        _table(
            "Audiences (and why: the conditions of each audience's rule)",
            ["audience", "activation", "conditions met", "conditions not met"],
            [
                (
                    name,
                    "held out (global holdout)"
                    if is_global
                    else "held out (audience control)"
                    if is_holdout
                    else "reachable",
                    ", ".join(met.get(name, [])),
                    ", ".join(unmet.get(name, [])),
                )
                for name, is_holdout, is_global in memberships
            ],
        )
    )
    console.print(_sync_history(settings, customer_id))
    console.print(
        _table(
            "Consent (current decision per purpose)",
            ["purpose", "status", "granted", "source", "decided at"],
            query(
                "select consent_purpose, consent_status, is_granted, consent_source, decided_at "
                f"from consent_current where customer_id = {cid} order by 1"
            ),
        )
    )


def _sync_history(settings: Settings, customer_id: str, limit: int = 20) -> Table:
    """What the customer-keyed syncs sent, removed, held out or refused for this customer."""
    from orchestration.sync.project import sync_location
    from orchestration.sync.stores import record_history

    rows = record_history(sync_location(settings), customer_id, limit)
    return _table(f"Syncs (last {limit} records)", ["at", "sync", "operation", "status", "reason"], rows)
