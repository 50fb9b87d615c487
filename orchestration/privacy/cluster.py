"""Who a request is about: the whole identity cluster of one identifier, and every raw row that is theirs."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any

from orchestration.identity.profile import CustomerNotFound, normalise_identifier

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class RawTable:
    """How to find a person's rows in one raw table: through its base_ model, which holds every raw row
    (quarantined ones too) with normalised identifiers. `raw_values` are base columns that hold the
    identifiers as the source wrote them (kept as scan terms: " Ann@Example.COM " is not "ann@example.com")."""

    source: str
    table: str
    raw_id: str
    base: str
    base_id: str
    identifiers: tuple[tuple[str, str], ...] = ()
    raw_values: tuple[tuple[str, str, str], ...] = ()
    names: tuple[str, ...] = ()
    # (parent table, raw column holding the parent's id): rows of a person's parent rows are theirs too.
    parent: tuple[str, str] | None = None
    typed_subject: bool = False
    # The raw table's columns that hold a person's identifiers (docs/raw_schema.md): the only ones a short or
    # all-digit term is compared with (id_columns.py), so that customer 1234 is not order 1234.
    id_columns: tuple[str, ...] = ()


SEGMENT = (("anonymous_id", "anonymous_id"), ("shop_customer_id", "user_id"))
SEGMENT_ID_COLUMNS = ("anonymous_id", "user_id")
EMAIL_RAW = (("email", "email", "email_raw"),)
EMAIL_PHONE_RAW = (("email", "email", "email_raw"), ("phone", "phone", "phone_raw"))

RAW_TABLES: tuple[RawTable, ...] = (
    RawTable(
        "crm",
        "contacts",
        "contact_id",
        "base_crm__contacts",
        "crm_contact_id",
        (("crm_contact_id", "crm_contact_id"), ("email", "email"), ("phone", "phone")),
        EMAIL_PHONE_RAW,
        ("first_name", "last_name"),
        id_columns=("contact_id", "email", "phone"),
    ),
    RawTable(
        "shop",
        "customers",
        "customer_id",
        "base_shop__customers",
        "shop_customer_id",
        (("shop_customer_id", "shop_customer_id"), ("email", "email"), ("phone", "phone")),
        EMAIL_PHONE_RAW,
        ("first_name", "last_name"),
        id_columns=("customer_id", "email", "phone"),
    ),
    RawTable(
        "shop",
        "orders",
        "order_id",
        "base_shop__orders",
        "order_id",
        (("shop_customer_id", "shop_customer_id"), ("email", "email")),
        EMAIL_RAW,
        id_columns=("customer_id", "email"),
    ),
    RawTable(
        "shop",
        "order_items",
        "order_item_id",
        "base_shop__order_items",
        "order_item_id",
        parent=("orders", "order_id"),
    ),
    RawTable(
        "events",
        "identifies",
        "id",
        "base_events__identifies",
        "message_id",
        (*SEGMENT, ("email", "email"), ("phone", "phone")),
        EMAIL_PHONE_RAW,
        ("first_name", "last_name"),
        id_columns=(*SEGMENT_ID_COLUMNS, "email", "phone"),
    ),
    RawTable(
        "events", "tracks", "id", "base_events__tracks", "message_id", SEGMENT, id_columns=SEGMENT_ID_COLUMNS
    ),
    RawTable(
        "events", "pages", "id", "base_events__pages", "message_id", SEGMENT, id_columns=SEGMENT_ID_COLUMNS
    ),
    RawTable(
        "pos",
        "transactions",
        "transaction_id",
        "base_pos__transactions",
        "transaction_id",
        (("loyalty_card", "loyalty_card_number"), ("phone", "phone")),
        (("phone", "phone", "phone_raw"),),
        id_columns=("loyalty_card_number", "phone"),
    ),
    RawTable(
        "support",
        "tickets",
        "ticket_id",
        "base_support__tickets",
        "ticket_id",
        (("email", "email"), ("phone", "phone")),
        EMAIL_PHONE_RAW,
        ("requester_name",),
        id_columns=("requester_email", "requester_phone"),
    ),
    RawTable(
        "support",
        "survey_responses",
        "response_id",
        "base_support__survey_responses",
        "survey_response_id",
        (("email", "email"),),
        EMAIL_RAW,
        parent=("tickets", "ticket_id"),
        id_columns=("requester_email",),
    ),
    RawTable(
        "esp",
        "email_events",
        "event_id",
        "base_esp__email_events",
        "email_event_id",
        (("email", "email"),),
        EMAIL_RAW,
        id_columns=("email",),
    ),
    RawTable(
        "consent",
        "consent_events",
        "consent_event_id",
        "base_consent__consent_events",
        "consent_event_id",
        raw_values=(("*", "subject_value", "subject_value_raw"),),
        typed_subject=True,
        id_columns=("subject_value",),
    ),
)


class NoWarehouse(RuntimeError):
    """There is no published warehouse to look the person up in (no build has published yet)."""


class SourceBusy(RuntimeError):
    """A file the erase must edit is held by another process (a loader writing its own database file)."""


class EraseIncomplete(RuntimeError):
    """The warehouse step failed after deleting rows that no build puts back (a loader's own DuckDB file is
    edited in place, not in the build copy; on Postgres, the retained, declared source and loader tables
    are edited live): `deleted_rows` counts them ({place: rows}), so the ledger keeps them and the run that
    finishes the request adds them to its own."""

    def __init__(self, message: str, deleted_rows: dict[str, int]) -> None:
        super().__init__(message)
        self.deleted_rows = deleted_rows


@dataclass
class Cluster:
    """One person as the warehouse knows them. `identifiers` are (type, normalised value) pairs."""

    subject_type: str
    subject_value: str
    customer_ids: list[str] = field(default_factory=list)
    identifiers: list[tuple[str, str]] = field(default_factory=list)
    names: list[tuple[str, str]] = field(default_factory=list)

    @property
    def found(self) -> bool:
        return bool(self.customer_ids)


def parse_subject(text: str) -> tuple[str, str]:
    """`TYPE:VALUE` → (type, value normalised as staging normalises it). Raises ValueError when malformed."""
    try:
        subject_type, value = normalise_identifier(text)
    except CustomerNotFound as exc:
        raise ValueError(str(exc)) from None
    if not value.strip():
        raise ValueError(f"{subject_type}: has no value; write {subject_type}:VALUE")
    return subject_type, value


def _quote(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def find_cluster(con: Any, subject_type: str, subject_value: str) -> Cluster:
    """The identity cluster holding (type, value) in the warehouse `con` reads. A subject no customer holds
    still yields a cluster of that one identifier, so that rows carrying it (quarantined ones) are found."""
    cluster = Cluster(subject_type, subject_value)
    rows = con.execute(
        "select distinct customer_id from customer_identifiers where identifier_type = ? and identifier_value = ?",
        [subject_type, subject_value],
    ).fetchall()
    cluster.customer_ids = sorted(r[0] for r in rows)
    identifiers = {(subject_type, subject_value)}
    if cluster.customer_ids:
        for identifier_type, value in con.execute(
            "select distinct identifier_type, identifier_value from customer_identifiers "
            "where customer_id in (select unnest(?))",
            [cluster.customer_ids],
        ).fetchall():
            identifiers.add((identifier_type, value))
        cluster.names = sorted(
            {
                (first or "", last or "")
                for first, last in con.execute(
                    "select first_name, last_name from customers where customer_id in (select unnest(?))",
                    [cluster.customer_ids],
                ).fetchall()
                if first or last
            }
        )
    cluster.identifiers = sorted(identifiers)
    return cluster


def identifier_condition(raw: RawTable, identifiers: list[tuple[str, str]]) -> str:
    """SQL over the base_ model that is true for the cluster's rows."""
    by_type: dict[str, list[str]] = {}
    for identifier_type, value in identifiers:
        by_type.setdefault(identifier_type, []).append(value)
    parts = []
    if raw.typed_subject:
        pairs = [f"({_quote(t)}, {_quote(v)})" for t, v in identifiers]
        parts.append(f"(subject_type, subject_value) in ({', '.join(pairs)})")
    for identifier_type, column in raw.identifiers:
        values = by_type.get(identifier_type)
        if values:
            parts.append(f"cast({column} as varchar) in ({', '.join(_quote(v) for v in values)})")
    return " or ".join(parts) if parts else "false"


@dataclass
class RawMatch:
    """The cluster's rows in one raw table: their raw ids, and identifier values as the source wrote them."""

    raw: RawTable
    ids: list[Any]
    raw_values: set[str]
    names: set[str]


def match_raw_rows(con: Any, cluster: Cluster) -> dict[tuple[str, str], RawMatch]:
    """Every raw row of the cluster, found through the base_ models (so quarantined rows are found too).
    `con` is a DuckDB connection to the warehouse, or a Postgres session with the same execute()."""
    matches: dict[tuple[str, str], RawMatch] = {}
    existing = {
        name
        for (name,) in con.execute(
            "select table_name from information_schema.tables where table_schema = current_schema()"
        ).fetchall()
    }
    for raw in RAW_TABLES:
        if raw.base not in existing:
            continue
        if raw.parent is not None and not raw.identifiers:
            condition = "false"
        else:
            condition = identifier_condition(raw, cluster.identifiers)
        if raw.parent is not None:
            parent = matches.get((raw.source, raw.parent[0]))
            parent_base_column = raw.parent[1]
            if parent is not None and parent.ids:
                quoted = ", ".join(_quote(str(i)) for i in parent.ids)
                condition = f"({condition}) or cast({parent_base_column} as varchar) in ({quoted})"
        normalised = [f"cast({column} as varchar)" for _, column, _ in raw.raw_values]
        originals = [f"cast({raw_column} as varchar)" for _, _, raw_column in raw.raw_values]
        columns = (
            [raw.base_id, *normalised, *originals, *raw.names] if (normalised or raw.names) else [raw.base_id]
        )
        rows = con.execute(f"select {', '.join(columns)} from {raw.base} where {condition}").fetchall()
        ids = sorted({row[0] for row in rows if row[0] is not None}, key=str)
        known = {value for _, value in cluster.identifiers}
        width = len(raw.raw_values)
        raw_values: set[str] = set()
        names: set[str] = set()
        for row in rows:
            for index in range(width):
                # A source's spelling of an identifier is kept as a term only when it is the cluster's:
                # a refused, shared phone in the same record belongs to someone else too.
                value, original = row[1 + index], row[1 + width + index]
                if value in known and original and str(original).strip():
                    raw_values.add(str(original).strip())
            names.update(str(v) for v in row[1 + 2 * width :] if v)
        matches[(raw.source, raw.table)] = RawMatch(raw, ids, raw_values, names)
    return matches


PERSON_SOURCES = "person_sources"


@dataclass
class PersonSourceMatch:
    """The cluster's rows of the declared person sources (sources/person_sources.yml).

    `rows` are (source_name, table_name, row_number, record_id or ''): the landing table's unique row key
    for the load the published warehouse was built from, with the record id as a check, since a row
    number is a position that another load may give to someone else (see `person_rows_condition`).
    `record_ids` are the values of each source's declared record-id column, which
    name the same rows in the declared file or table (they outlive a reload); `raw_values` are the email
    and phone as the source wrote them (scan terms)."""

    rows: set[tuple[str, str, int, str]] = field(default_factory=set)
    record_ids: dict[tuple[str, str], set[str]] = field(default_factory=dict)
    raw_values: set[str] = field(default_factory=set)

    @property
    def found(self) -> bool:
        return bool(self.rows)


def match_person_source_rows(con: Any, cluster: Cluster) -> PersonSourceMatch:
    """The person-source rows of the cluster: those identity placed in one of its customers (through
    customer_source_records, which also covers records linked by name and date of birth alone), and
    every row (quarantined ones too) carrying one of its emails, phones or external ids."""
    match = PersonSourceMatch()
    existing = {
        name
        for (name,) in con.execute(
            "select table_name from information_schema.tables where table_schema = current_schema()"
        ).fetchall()
    }
    if "base_person_sources__records" not in existing:
        return match
    emails = [v for t, v in cluster.identifiers if t == "email"]
    phones = [v for t, v in cluster.identifiers if t == "phone"]
    parts = []
    if emails:
        parts.append(f"email in ({', '.join(_quote(v) for v in emails)})")
    if phones:
        parts.append(f"phone in ({', '.join(_quote(v) for v in phones)})")
    if cluster.customer_ids and "customer_source_records" in existing:
        ids = ", ".join(_quote(c) for c in cluster.customer_ids)
        parts.append(
            "exists (select 1 from customer_source_records as c where c.customer_id in "
            f"({ids}) and c.source_name = r.source_name and c.table_name = r.table_name "
            "and c.record_id = r.record_id)"
        )
    others = [(t, v) for t, v in cluster.identifiers if t not in ("email", "phone")]
    if others and "base_person_sources__external_ids" in existing:
        pairs = " or ".join(
            f"(x.identifier_type = {_quote(t)} and x.identifier_value = {_quote(v)})" for t, v in others
        )
        parts.append(
            "exists (select 1 from base_person_sources__external_ids as x where x.source_name = r.source_name "
            f"and x.table_name = r.table_name and x.row_number = r.row_number and ({pairs}))"
        )
    if not parts:
        return match
    known = {value for _, value in cluster.identifiers}
    for source_name, table_name, row_number, record_id, email, email_raw, phone, phone_raw in con.execute(
        "select source_name, table_name, row_number, record_id, email, email_raw, phone, phone_raw "
        f"from base_person_sources__records as r where {' or '.join(parts)}"
    ).fetchall():
        match.rows.add((str(source_name), str(table_name), int(row_number), str(record_id or "")))
        if record_id is not None:
            match.record_ids.setdefault((str(source_name), str(table_name)), set()).add(str(record_id))
        # As for the built-in sources: a source's spelling is a term only when the value is the cluster's.
        for value, original in ((email, email_raw), (phone, phone_raw)):
            if value in known and original and str(original).strip():
                match.raw_values.add(str(original).strip())
    return match


def person_rows_condition(rows: set[tuple[str, str, int, str]]) -> str:
    """SQL over raw_person_sources.records or .external_ids, true for these rows. The row number alone
    could name another person's row after a reload (a load since the last publish, say), so the record
    id must match too; a row that no longer matches is still found by its identifiers (scan terms)."""
    if not rows:
        return "false"
    keys = ", ".join(f"({_quote(s)}, {_quote(t)}, {int(n)}, {_quote(r)})" for s, t, n, r in sorted(rows))
    return f"(source_name, table_name, row_number, coalesce(trim(record_id), '')) in ({keys})"
