"""The demo's campaign response: after a send, plant orders with a known treatment effect (lift truth).

The loop as in reality: a build puts customers in audiences, the syncs send the treatment arm (members
in neither the audience's holdout nor the global holdout), and the next batch of raw data holds what the
members did afterwards. `plant_campaign_response` reads the members, their holdout flags and their
first entry from the *published* warehouse (audience_memberships, audience_membership_history: the same
flags the sync engine obeys, never re-computed here), and appends shop orders to the raw orders file:

- every member of the two audiences orders within the outcome window with the same baseline
  probability, whatever their arm;
- a member of the effect audience's treatment arm gets `effect` added to that probability;
- the null audience's treatment arm gets nothing added (its true lift is 0).

The planted truth (audiences, outcome, baseline, effects, when, who was treated and who responded) goes
to `out/truth/campaign_response.json` and `.parquet`, beside the generator's truth.parquet, which also
gets a truth row per planted order. docs/audiences.md#lift says how the bench reads it.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from orchestration.settings import Settings
from orchestration.warehouse.files import written_aside

from .schema import SCHEMAS

log = logging.getLogger(__name__)

# The effect audience: lapsed high-value customers, a win-back offer. It is the demo audience with a
# holdout (10%) that is large on a small world (about 18% of customers: 267 members and 32 in the
# holdout at 1,500 generated persons), so its control arm is big enough for an interval to mean
# something. (The example, last season's match-goers near a store, has 9 members there.)
EFFECT_AUDIENCE = "lapsed_high_value"
# The null audience: big spenders who consented to email, the next audience with a holdout (10%); its
# campaign does nothing (true lift 0), so a "significant" lift on it is a false positive. It is small
# on a small world (27 members at 1,500 persons) and two thirds of it is also lapsed high-value, so it
# also shows how a small control arm and another campaign's members behave. `tessera bench lift`
# builds its worlds with a broad, half-held-out variant of it (orchestration/audiences/bench_audiences/),
# so the false-positive rate it measures is on arms of about 90 members.
NULL_AUDIENCE = "emailable_big_spenders"
OUTCOME_DAYS = 14  # the `order` outcome of lift_outcomes: ordered_within_14_days
BASELINE = 0.15  # the chance that any member orders in the window, treated or not
EFFECT = 0.15  # added to the chance for the effect audience's treatment arm
TRUTH_JSON = "campaign_response.json"
TRUTH_PARQUET = "campaign_response.parquet"
US = 1_000_000


class CampaignResponseError(RuntimeError):
    """The response cannot be planted (nothing published, an audience missing, bad parameters)."""


@dataclass
class CampaignTruth:
    """What was planted, as written to truth/campaign_response.json."""

    effect_audience: str
    null_audience: str
    outcome: str
    within_days: int
    baseline: float
    effect: float
    null_effect: float
    seed: int
    # Per audience: members, treatment (sent), control (audience holdout), global holdout, and how
    # many of each arm responded (one planted order).
    arms: dict[str, dict[str, int]] = field(default_factory=dict)
    # Members with no identifier an order or a till transaction can carry (shop id, email, loyalty
    # card, phone): they get no response, in any arm (counted, not silently dropped).
    unreachable: int = 0
    orders_planted: int = 0  # shop orders (customers with a shop id or an email)
    store_visits_planted: int = 0  # till transactions (customers known by loyalty card or phone only)
    first_order_id: int | None = None
    sent_at: str | None = None

    def write(self, truth_dir: Path) -> Path:
        truth_dir.mkdir(parents=True, exist_ok=True)
        path = truth_dir / TRUTH_JSON
        path.write_text(json.dumps(asdict(self), indent=2) + "\n")
        return path

    @classmethod
    def read(cls, truth_dir: Path) -> CampaignTruth:
        return cls(**json.loads((truth_dir / TRUTH_JSON).read_text()))


def _members(settings: Settings, audiences: list[str]) -> list[dict[str, Any]]:
    """The current members of `audiences` with their holdout flags (as the sync engine reads them),
    their first entry (as audience_lift reads it) and one identifier an order can carry."""
    from orchestration.warehouse.registry import get_warehouse

    names = ", ".join("'" + name.replace("'", "''") + "'" for name in audiences)
    rows = get_warehouse(settings).query_published(
        f"""
        with entries as (
            select audience_name, customer_id, min(changed_at) as entered_at
            from audience_membership_history
            where change_kind = 'entered' and audience_name in ({names})
            group by 1, 2
        ),
        shop_ids as (
            select customer_id, min(identifier_value) as shop_customer_id
            from customer_identifiers where identifier_type = 'shop_customer_id'
            group by 1
        ),
        emails as (
            select customer_id, min(identifier_value) as email
            from customer_identifiers where identifier_type = 'email'
            group by 1
        ),
        cards as (
            select customer_id, min(identifier_value) as loyalty_card
            from customer_identifiers where identifier_type = 'loyalty_card'
            group by 1
        ),
        phones as (
            select customer_id, min(identifier_value) as phone
            from customer_identifiers where identifier_type = 'phone'
            group by 1
        )
        select
            memberships.audience_name,
            memberships.customer_id,
            memberships.is_holdout,
            memberships.is_global_holdout,
            entries.entered_at,
            shop_ids.shop_customer_id,
            emails.email,
            cards.loyalty_card,
            phones.phone
        from audience_memberships as memberships
        inner join entries
            on memberships.audience_name = entries.audience_name
            and memberships.customer_id = entries.customer_id
        left join shop_ids on memberships.customer_id = shop_ids.customer_id
        left join emails on memberships.customer_id = emails.customer_id
        left join cards on memberships.customer_id = cards.customer_id
        left join phones on memberships.customer_id = phones.customer_id
        where memberships.audience_name in ({names})
        order by memberships.customer_id, memberships.audience_name
        """
    )
    keys = (
        "audience",
        "customer_id",
        "is_holdout",
        "is_global_holdout",
        "entered_at",
        "shop_id",
        "email",
        "loyalty_card",
        "phone",
    )
    return [dict(zip(keys, row, strict=True)) for row in rows]


def _person_of(settings: Settings, customer_ids: list[str], truth_path: Path) -> dict[str, int]:
    """The generator's true person behind each customer (the person most of its source records
    belong to), so planted orders get truth rows like every generated record."""
    from orchestration.warehouse.registry import get_warehouse

    if not customer_ids or not truth_path.exists():
        return {}
    wanted = set(customer_ids)
    records = get_warehouse(settings).query_published(
        "select customer_id, source_name, table_name, record_id from customer_source_records"
    )
    truth = pq.read_table(truth_path).to_pydict()
    person = {
        (s, t, r): p
        for s, t, r, p in zip(
            truth["source"], truth["table_name"], truth["record_id"], truth["person_id"], strict=True
        )
    }
    votes: dict[str, dict[int, int]] = {}
    for customer_id, source, table, record_id in records:
        if customer_id not in wanted:
            continue
        found = person.get((source, table, str(record_id)))
        if found is not None:
            tally = votes.setdefault(customer_id, {})
            tally[found] = tally.get(found, 0) + 1
    return {c: max(tally, key=lambda p: (tally[p], -p)) for c, tally in votes.items()}


def _as_us(value: Any) -> int:
    if isinstance(value, str):
        value = dt.datetime.fromisoformat(value)
    if value.tzinfo is not None:
        value = value.astimezone(dt.UTC).replace(tzinfo=None)
    return (value - dt.datetime(1970, 1, 1)) // dt.timedelta(microseconds=1)


def plant_campaign_response(
    settings: Settings,
    *,
    seed: int,
    effect_audience: str = EFFECT_AUDIENCE,
    null_audience: str = NULL_AUDIENCE,
    baseline: float = BASELINE,
    effect: float = EFFECT,
    within_days: int = OUTCOME_DAYS,
) -> CampaignTruth:
    """Append the members' response to the last send to the raw shop orders of `settings.data_dir`
    and write the planted truth beside truth.parquet. Needs a published build (the send)."""
    if effect_audience == null_audience:
        raise CampaignResponseError("the effect audience and the null audience must differ")
    if not 0 <= baseline <= 1 or not 0 <= baseline + effect <= 1:
        raise CampaignResponseError(
            f"baseline {baseline} and baseline + effect {baseline + effect} must be probabilities"
        )
    if within_days < 1:
        raise CampaignResponseError("within_days must be at least 1")
    orders_path = settings.raw_dir / "shop" / "orders.parquet"
    if not orders_path.exists():
        raise CampaignResponseError(f"{orders_path}: no raw shop orders to append the response to")
    members = _members(settings, [effect_audience, null_audience])
    for audience in (effect_audience, null_audience):
        if not any(m["audience"] == audience for m in members):
            raise CampaignResponseError(f"audience {audience} has no published members to respond")

    truth = CampaignTruth(
        effect_audience=effect_audience,
        null_audience=null_audience,
        outcome="order",
        within_days=within_days,
        baseline=baseline,
        effect=effect,
        null_effect=0.0,
        seed=seed,
    )
    # One response per customer, whichever audiences they are in: the baseline for all, plus the
    # effect when the effect audience's campaign reached them. A customer in both audiences is in
    # the null audience's two arms with the same chance (the holdout hashes are independent), so
    # the null audience's true lift stays 0.
    customers: dict[str, dict[str, Any]] = {}
    for m in members:
        entry = customers.setdefault(
            m["customer_id"],
            {
                "shop_id": m["shop_id"],
                "email": m["email"],
                "loyalty_card": m["loyalty_card"],
                "phone": m["phone"],
                "entered_us": 0,
                "treated": False,
                "arms": {},
            },
        )
        arm = "global_holdout" if m["is_global_holdout"] else "control" if m["is_holdout"] else "treatment"
        entry["arms"][m["audience"]] = arm
        entry["entered_us"] = max(entry["entered_us"], _as_us(m["entered_at"]))
        if m["audience"] == effect_audience and arm == "treatment":
            entry["treated"] = True

    rng = np.random.default_rng([seed, 0x11F7])
    ids = sorted(customers)
    draws = rng.random(len(ids))
    offsets = rng.uniform(0.0, within_days * 86_400 * US, len(ids)).astype(np.int64)
    amounts = np.round(rng.lognormal(np.log(60.0), 0.5, len(ids)), 2)

    existing = pq.read_table(orders_path)
    next_order_id = int(max(existing.column("order_id").to_pylist(), default=0) or 0) + 1
    truth.first_order_id = next_order_id
    currency = _usual_currency(existing)
    store_id = _a_store(settings)
    shop_rows: dict[str, list[Any]] = {name: [] for name in SCHEMAS["shop.orders"].names}
    pos_rows: dict[str, list[Any]] = {name: [] for name in SCHEMAS["pos.transactions"].names}
    detail: dict[str, list[Any]] = {
        k: []
        for k in (
            "customer_id",
            "audience_name",
            "arm",
            "probability",
            "responded",
            "order_id",
            "source_table",
            "ordered_at",
        )
    }
    planted_records: list[tuple[str, str, str]] = []  # (table, record id, customer_id) for truth rows
    latest_entry = 0
    for audience in (effect_audience, null_audience):
        truth.arms[audience] = {
            k: 0
            for k in (
                "members",
                "treatment",
                "control",
                "global_holdout",
                "treatment_responded",
                "control_responded",
            )
        }
    for index, customer_id in enumerate(ids):
        entry = customers[customer_id]
        probability = baseline + (effect if entry["treated"] else 0.0)
        # An online order names the customer by shop id (else email); a customer known only by a
        # loyalty card or phone buys in a store (a till transaction), as they already do.
        online = entry["shop_id"] is not None or entry["email"] is not None
        in_store = not online and (entry["loyalty_card"] is not None or entry["phone"] is not None)
        responded = bool(draws[index] < probability) and (online or in_store)
        if not online and not in_store:
            truth.unreachable += 1
        ordered_us = entry["entered_us"] + 1 + int(offsets[index])
        loaded_us = entry["entered_us"] + within_days * 86_400 * US + 3_600 * US
        latest_entry = max(latest_entry, entry["entered_us"])
        order_id = None
        table = None
        if responded:
            order_id = next_order_id
            next_order_id += 1
            amount = float(amounts[index])
            if online:
                table = "orders"
                shop_rows["order_id"].append(order_id)
                shop_rows["customer_id"].append(
                    int(entry["shop_id"]) if entry["shop_id"] is not None else None
                )
                shop_rows["email"].append(None if entry["shop_id"] is not None else entry["email"])
                shop_rows["channel"].append("online")
                shop_rows["store_id"].append(None)
                shop_rows["currency"].append(currency)
                shop_rows["subtotal_price"].append(amount)
                shop_rows["total_discounts"].append(0.0)
                shop_rows["total_price"].append(amount)
                shop_rows["discount_code"].append(None)
                shop_rows["financial_status"].append("paid")
                shop_rows["created_at"].append(ordered_us)
                shop_rows["_loaded_at"].append(loaded_us)
                planted_records.append(("orders", str(order_id), customer_id))
            else:
                table = "transactions"
                transaction_id = f"{store_id}-R{order_id}"
                pos_rows["transaction_id"].append(transaction_id)
                pos_rows["store_id"].append(store_id)
                pos_rows["loyalty_card_number"].append(entry["loyalty_card"])
                pos_rows["phone"].append(None if entry["loyalty_card"] is not None else entry["phone"])
                pos_rows["amount"].append(amount)
                pos_rows["currency"].append(currency)
                pos_rows["item_count"].append(1)
                pos_rows["transacted_at"].append(
                    (dt.datetime(1970, 1, 1) + dt.timedelta(microseconds=ordered_us)).strftime(
                        "%Y-%m-%d %H:%M:%S"
                    )
                )
                pos_rows["_loaded_at"].append(loaded_us)
                planted_records.append(("transactions", transaction_id, customer_id))
        for audience, arm in entry["arms"].items():
            counts = truth.arms[audience]
            counts["members"] += 1
            counts[arm] += 1
            if responded and arm in ("treatment", "control"):
                counts[f"{arm}_responded"] += 1
            detail["customer_id"].append(customer_id)
            detail["audience_name"].append(audience)
            detail["arm"].append(arm)
            detail["probability"].append(probability)
            detail["responded"].append(responded)
            detail["order_id"].append(order_id)
            detail["source_table"].append(None if table is None else ("shop." if online else "pos.") + table)
            detail["ordered_at"].append(ordered_us if responded else None)
    truth.orders_planted = len(shop_rows["order_id"])
    truth.store_visits_planted = len(pos_rows["transaction_id"])
    truth.sent_at = (dt.datetime(1970, 1, 1) + dt.timedelta(microseconds=latest_entry)).isoformat(sep=" ")

    # The next batch, as a loader appends it: each file is re-written with the new rows after the
    # old ones (written aside, then moved into place).
    _append_rows(orders_path, "shop.orders", shop_rows)
    _append_rows(settings.raw_dir / "pos" / "transactions.parquet", "pos.transactions", pos_rows)
    truth_dir = settings.data_dir / "truth"
    _append_truth(settings, truth_dir / "truth.parquet", planted_records)
    pq.write_table(
        pa.table(
            {
                "customer_id": pa.array(detail["customer_id"], pa.string()),
                "audience_name": pa.array(detail["audience_name"], pa.string()),
                "arm": pa.array(detail["arm"], pa.string()),
                "probability": pa.array(detail["probability"], pa.float64()),
                "responded": pa.array(detail["responded"], pa.bool_()),
                "order_id": pa.array(detail["order_id"], pa.int64()),
                "source_table": pa.array(detail["source_table"], pa.string()),
                "ordered_at": pa.array(detail["ordered_at"], pa.int64()).cast(pa.timestamp("us")),
            }
        ),
        truth_dir / TRUTH_PARQUET,
    )
    truth.write(truth_dir)
    log.info(
        "campaign response: %d orders and %d store visits planted for %d customers (%d unreachable)",
        truth.orders_planted,
        truth.store_visits_planted,
        len(ids),
        truth.unreachable,
    )
    return truth


def _usual_currency(orders: pa.Table) -> str:
    values = [v for v in orders.column("currency").to_pylist() if v]
    if not values:
        return "GBP"
    unique, counts = np.unique(np.array(values, dtype=object), return_counts=True)
    return str(unique[int(np.argmax(counts))])


def _a_store(settings: Settings) -> str:
    """The store the in-store responses happen in: the first store of the raw store list."""
    path = settings.raw_dir / "pos" / "stores.parquet"
    stores = (
        sorted(v for v in pq.read_table(path).column("store_id").to_pylist() if v) if path.exists() else []
    )
    return stores[0] if stores else "ST001"


def _append_rows(path: Path, name: str, rows: dict[str, list[Any]]) -> None:
    schema = SCHEMAS[name]
    if not any(rows.values()):
        return
    planted = pa.Table.from_arrays(
        [
            pa.array(rows[f.name], pa.int64()).cast(f.type)
            if pa.types.is_timestamp(f.type)
            else pa.array(rows[f.name], f.type)
            for f in schema
        ],
        schema=schema,
    )
    tables = [pq.read_table(path).cast(schema)] if path.exists() else []
    path.parent.mkdir(parents=True, exist_ok=True)
    _replace(path, pa.concat_tables([*tables, planted]))


def _replace(path: Path, table: pa.Table) -> None:
    with written_aside(path) as aside:
        pq.write_table(table, aside, compression="zstd")


def _append_truth(settings: Settings, truth_path: Path, records: list[tuple[str, str, str]]) -> None:
    """Truth rows (source, table, record id, person) for the planted records whose person is known."""
    if not truth_path.exists() or not records:
        return
    person = _person_of(settings, sorted({c for _, _, c in records}), truth_path)
    known = [(table, record_id, person[c]) for table, record_id, c in records if c in person]
    if len(known) < len(records):
        log.warning(
            "campaign response: %d planted records have no known person (no truth row)",
            len(records) - len(known),
        )
    extra = pa.Table.from_arrays(
        [
            pa.array(["shop" if t == "orders" else "pos" for t, _, _ in known], pa.string()),
            pa.array([t for t, _, _ in known], pa.string()),
            pa.array([r for _, r, _ in known], pa.string()),
            pa.array([p for _, _, p in known], pa.int64()),
        ],
        schema=SCHEMAS["truth.truth"],
    )
    _replace(truth_path, pa.concat_tables([pq.read_table(truth_path), extra]))
