"""Operational sources: CRM contacts, shop customers/orders/items, POS transactions, support."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pyarrow as pa

from ._util import (
    DAY,
    END,
    HORIZON,
    HOUR,
    NEVER,
    START,
    affine_permutation,
    obj,
    padded_ids,
    pick,
    poisson_times,
    to_us,
    ts_strings,
    where_or_none,
)
from .people import Noise, People, addresses_for, emails_for, names_for, phones_for
from .sink import Sink
from .world import COUNTRIES, REGION_COUNTRY, REGIONS, Catalogue, Pools, Store, match_days

LOADED = {
    "crm": END - 5 * HOUR,
    "shop": END - 3 * HOUR,
    "events": END - 2 * HOUR,
    "pos": END - 4 * HOUR,
    "support": END - 2 * HOUR,
    "esp": END - 1 * HOUR,
    "consent": END - 1 * HOUR,
    "reference": END - 6 * HOUR,
}
BAD_TS = ["2025-13-45", "not a date", "", "31/02/2025", "0000-00-00 00:00:00", "2025-02-30T25:61:00Z", "N/A"]
MALFORMED_RATE = 0.002


def corrupt(rng: np.random.Generator, arr: np.ndarray, rate: float = MALFORMED_RATE) -> np.ndarray:
    """Replace ~rate of the timestamp strings by malformed ones (in place; returns the mask).

    Tables of 50+ rows always get at least one, so that small demo worlds show the problem too.
    """
    m = rng.random(len(arr)) < rate
    if len(arr) >= 50 and not m.any():
        m[rng.integers(0, len(arr))] = True
    arr[m] = obj(BAD_TS)[rng.integers(0, len(BAD_TS), int(m.sum()))]
    return m


CRM_NOISE = Noise(
    email_second=0.25,
    email_family=0.3,
    email_typo=0.015,
    email_case=0.05,
    email_space=0.02,
    email_junk=0.015,
    email_null=0.05,
    phone_formats=(0.35, 0.15, 0.35, 0.1, 0.05),
    phone_null=0.25,
    phone_junk=0.015,
    name_nick=0.3,
    name_case=0.03,
    name_fold=0.15,
)
SHOP_NOISE = Noise(
    email_second=0.1,
    email_family=0.4,
    email_typo=0.01,
    email_plus=0.08,
    email_dots=0.04,
    email_case=0.02,
    email_space=0.01,
    email_junk=0.01,
    phone_formats=(0.3, 0.15, 0.35, 0.15, 0.05),
    phone_null=0.45,
    phone_junk=0.01,
    name_nick=0.2,
    name_fold=0.1,
)
ORDER_NOISE = Noise(
    email_second=0.1,
    email_family=0.4,
    email_typo=0.008,
    email_plus=0.08,
    email_dots=0.03,
    email_case=0.02,
    email_space=0.005,
    email_junk=0.01,
)
POS_NOISE = Noise(phone_formats=(0.55, 0.25, 0.1, 0.05, 0.05), phone_null=0.0, phone_junk=0.015)
SUPPORT_NOISE = Noise(
    email_second=0.2,
    email_family=0.3,
    email_typo=0.02,
    email_plus=0.02,
    email_case=0.05,
    email_space=0.03,
    email_junk=0.015,
    phone_formats=(0.45, 0.2, 0.2, 0.1, 0.05),
    phone_null=0.0,
    phone_junk=0.015,
    name_nick=0.35,
    name_typo=0.02,
    name_case=0.04,
    name_fold=0.3,
)


@dataclass
class ShopState:
    """What later stages need to know about shop accounts and orders."""

    customer_id: np.ndarray  # per person: primary shop customer id, -1 if none
    customer_created: np.ndarray  # per person: account creation time, NEVER if none
    order_id: np.ndarray
    order_person: np.ndarray
    order_t: np.ndarray
    order_online: np.ndarray
    order_registered: np.ndarray  # placed while logged in (customer_id set)
    order_total: np.ndarray  # float, local currency
    item_order: np.ndarray  # row index into the order arrays
    item_product: np.ndarray
    item_price_cents: np.ndarray
    item_qty: np.ndarray


def _sorted_by(t: np.ndarray, *arrays: np.ndarray) -> list[np.ndarray]:
    order = np.argsort(t, kind="stable")
    return [t[order]] + [a[order] for a in arrays]


# ============================================================================================ CRM
def write_crm(rng: np.random.Generator, P: People, pools: Pools, sink: Sink) -> tuple[np.ndarray, np.ndarray]:
    """crm.contacts; returns per person the first contact id (None if none) and its creation time."""
    base = np.flatnonzero(P.in_crm)
    dup = base[rng.random(len(base)) < 0.05]  # duplicate contact records (re-entered leads)
    pidx = np.concatenate([base, dup])
    n = len(pidx)
    pre = P.pre[pidx]
    created = np.where(
        pre,
        rng.integers(to_us("2019-01-01"), START, n),
        np.minimum(P.t0[pidx] + rng.integers(0, 120 * DAY, n), HORIZON - DAY),
    )
    is_dup = np.arange(n) >= len(base)
    created[is_dup] = np.minimum(
        created[is_dup] + rng.integers(30 * DAY, 600 * DAY, int(is_dup.sum())), HORIZON - DAY
    )
    created = np.maximum(created, to_us("2019-01-01"))
    upd = rng.random(n) < 0.6
    updated = np.where(upd, created + (rng.beta(0.6, 1.2, n) * (HORIZON - created)).astype(np.int64), created)
    created, pidx, updated, is_dup = _sorted_by(created, pidx, updated, is_dup)

    t_addr = np.where(rng.random(n) < 0.5, updated, created)
    first, last = names_for(rng, P, pidx, updated, CRM_NOISE)
    street, city, postcode, region, country = addresses_for(rng, P, pidx, t_addr, CRM_NOISE)
    has_job = rng.random(n) < 0.55
    job = np.full(n, None, dtype=object)
    company = np.full(n, None, dtype=object)
    c = P.country[pidx]
    for ci in range(len(COUNTRIES)):
        m = has_job & (c == ci)
        job[m] = pools.job[ci][rng.integers(0, len(pools.job[ci]), int(m.sum()))]
        company[m] = pools.company[ci][rng.integers(0, len(pools.company[ci]), int(m.sum()))]
    dob = np.datetime_as_string(P.dob[pidx]).astype(object)
    dob[rng.random(n) < 0.35] = None

    contact_id = padded_ids("003", affine_permutation(np.arange(n), 10**12, rng), 12)
    created_s, updated_s = ts_strings(created, "iso_z"), ts_strings(updated, "iso_z")
    corrupt(rng, created_s)
    corrupt(rng, updated_s)
    null_id = rng.random(n) < 0.001
    contact_id = contact_id.to_numpy(zero_copy_only=False).astype(object)
    contact_id[null_id] = None
    sink.write(
        "crm.contacts",
        {
            "contact_id": contact_id,
            "first_name": first,
            "last_name": last,
            "email": emails_for(rng, P, pidx, CRM_NOISE),
            "phone": phones_for(rng, P, pidx, CRM_NOISE),
            "street": street,
            "city": city,
            "postcode": postcode,
            "region": region,
            "country": country,
            "job_title": job,
            "company": company,
            "date_of_birth": dob,
            "created_at": created_s,
            "updated_at": updated_s,
            "_loaded_at": LOADED["crm"],
        },
        P.pid[pidx],
    )
    per_person = np.full(P.n, None, dtype=object)
    created_pp = np.full(P.n, NEVER, dtype=np.int64)
    first_rec = ~is_dup & ~null_id
    per_person[pidx[first_rec]] = contact_id[first_rec]
    created_pp[pidx[first_rec]] = created[first_rec]
    return per_person, created_pp


# ============================================================================================ shop
def write_shop(
    rng: np.random.Generator, P: People, cat: Catalogue, stores: list[Store], sink: Sink
) -> ShopState:
    base = np.flatnonzero(P.in_shop)
    dup = base[rng.random(len(base)) < 0.02]  # a second account (other address, typo'd email ...)
    pidx = np.concatenate([base, dup])
    n = len(pidx)
    pre = P.pre[pidx]
    created = np.where(
        pre,
        rng.integers(to_us("2021-03-01"), START, n),
        np.minimum(P.t0[pidx] + rng.integers(0, 30 * DAY, n), HORIZON - DAY),
    )
    is_dup = np.arange(n) >= len(base)
    created[is_dup] = np.minimum(
        np.maximum(created[is_dup], START) + rng.integers(10 * DAY, 500 * DAY, int(is_dup.sum())),
        HORIZON - DAY,
    )
    updated = created + (rng.beta(0.8, 1.0, n) * (HORIZON - created)).astype(np.int64)
    created, pidx, updated, is_dup = _sorted_by(created, pidx, updated, is_dup)
    customer_id = 6_800_000_000_000 + np.cumsum(rng.integers(1, 20_000, n))

    first, last = names_for(rng, P, pidx, created, SHOP_NOISE)
    street, city, postcode, region, country = addresses_for(rng, P, pidx, updated, SHOP_NOISE)
    emails = emails_for(rng, P, pidx, SHOP_NOISE)
    # The second account usually signed up with another (or a mistyped) address.
    d = np.flatnonzero(is_dup)
    alt = P.email2[pidx[d]]
    emails[d] = obj(
        [
            a if a is not None else (e.replace("@", "1@", 1) if isinstance(e, str) else e)
            for a, e in zip(alt, emails[d], strict=True)
        ]
    )
    consent_now = (P.mkt_grant_t[pidx] <= updated) & (P.mkt_withdraw_t[pidx] > updated)
    accepts = consent_now ^ (rng.random(n) < 0.04)  # the flag and the consent log disagree now and then
    sink.write(
        "shop.customers",
        {
            "customer_id": customer_id,
            "email": emails,
            "first_name": first,
            "last_name": last,
            "phone": phones_for(rng, P, pidx, SHOP_NOISE),
            "street": street,
            "city": city,
            "postcode": postcode,
            "region": region,
            "country": country,
            "accepts_marketing": accepts,
            "created_at": created,
            "updated_at": updated,
            "_loaded_at": LOADED["shop"],
        },
        P.pid[pidx],
    )

    cust_of = np.full(P.n, -1, dtype=np.int64)
    cust_created = np.full(P.n, NEVER, dtype=np.int64)
    prim = ~is_dup
    cust_of[pidx[prim]] = customer_id[prim]
    cust_created[pidx[prim]] = created[prim]
    return _write_orders(rng, P, cat, stores, sink, cust_of, cust_created)


_DISCOUNTS = [
    ("WELCOME10", 10),
    ("SPRING15", 15),
    ("SUMMER20", 20),
    ("VIP5", 5),
    ("FREESHIP", 3),
    ("MATCHDAY10", 10),
    ("BLACKFRIDAY25", 25),
]


def _write_orders(
    rng: np.random.Generator,
    P: People,
    cat: Catalogue,
    stores: list[Store],
    sink: Sink,
    cust_of: np.ndarray,
    cust_created: np.ndarray,
) -> ShopState:
    registered = np.flatnonzero(cust_of >= 0)
    lo = np.maximum(cust_created[registered], START)
    o_own, o_t = poisson_times(
        rng, P.activity[registered] * 0.0025, lo, np.full(len(registered), HORIZON), P.churn_t[registered]
    )
    reg_person = registered[o_own]
    guests = np.flatnonzero(P.guest_buyer)
    g_own, g_t = poisson_times(
        rng,
        np.full(len(guests), 0.0016),
        np.maximum(P.t0[guests], START),
        np.full(len(guests), HORIZON),
        P.churn_t[guests],
    )
    guest_person = guests[g_own]

    # Match tickets: match-goers buy seasonally, a few days before their local club's home games.
    tk_person, tk_t, tk_region = [], [], []
    goers = np.flatnonzero(P.matchgoer & (cust_of >= 0))
    for ri in range(len(REGIONS)):
        g = goers[P.region[goers] == ri]
        days = match_days(ri)
        if not len(g) or not len(days):
            continue
        att = rng.random((len(g), len(days))) < 0.08
        gi, di = np.nonzero(att)
        t_buy = days[di] - rng.integers(2 * DAY, 12 * DAY, len(di))
        ok = (t_buy >= np.maximum(cust_created[g[gi]], START)) & (t_buy < HORIZON)
        churn = P.churn_t[g[gi]]
        ok &= (t_buy < churn) | (rng.random(len(di)) < np.exp(-(t_buy - churn).clip(0) / (30 * DAY)))
        tk_person.append(g[gi[ok]])
        tk_t.append(t_buy[ok])
        tk_region.append(np.full(int(ok.sum()), ri))
    tk_p = np.concatenate(tk_person) if tk_person else np.zeros(0, dtype=np.int64)
    tk_tt = np.concatenate(tk_t) if tk_t else np.zeros(0, dtype=np.int64)

    person = np.concatenate([reg_person, guest_person, tk_p])
    t = np.concatenate([o_t, g_t, tk_tt])
    kind = np.concatenate(
        [
            np.zeros(len(reg_person), np.int64),
            np.ones(len(guest_person), np.int64),
            np.full(len(tk_p), 2, np.int64),
        ]
    )
    t, person, kind = _sorted_by(t, person, kind)
    n = len(t)
    # Shop customers sometimes check out as guests; guest buyers never have an account id.
    is_registered = (kind != 1) & (rng.random(n) > 0.03)
    cid = np.where(is_registered, cust_of[person], -1)
    store_r = rng.random(n)
    in_store = (kind == 0) & (store_r < np.where(P.store_shopper[person], 0.15, 0.03)) & is_registered
    country = P.country[person]
    region = P.region[person]
    store_ids = obj([s.store_id for s in stores])
    store_region = np.array([s.region for s in stores])
    store_of = np.full(n, -1, dtype=np.int64)
    for ri in range(len(REGIONS)):
        m = np.flatnonzero(in_store & (region == ri))
        cand = np.flatnonzero(store_region == ri)
        store_of[m] = cand[rng.integers(0, len(cand), len(m))]

    # items
    n_items = np.where(kind == 2, 1, 1 + rng.poisson(0.7, n))
    it_order = np.repeat(np.arange(n), n_items)
    m_items = len(it_order)
    normal = np.flatnonzero(cat.popularity > 0)
    pop = cat.popularity[normal] / cat.popularity[normal].sum()
    product = normal[rng.choice(len(normal), size=m_items, p=pop)]
    ticket_rows = kind[it_order] == 2
    product[ticket_rows] = cat.ticket_product[region[it_order[ticket_rows]]]
    qty = np.where(
        ticket_rows,
        rng.choice([1, 2, 3, 4], size=m_items, p=[0.35, 0.4, 0.15, 0.1]),
        1 + (rng.random(m_items) < 0.15) * rng.integers(1, 3, m_items),
    )
    price_cents = cat.price_cents[product, country[it_order]]
    subtotal = np.bincount(it_order, weights=qty * price_cents, minlength=n).astype(np.int64)
    has_disc = rng.random(n) < 0.18
    code_i = rng.integers(0, len(_DISCOUNTS) - 1, n)
    month = t.astype("datetime64[us]").astype("datetime64[M]").astype(np.int64) % 12
    code_i = np.where(month == 10, len(_DISCOUNTS) - 1, code_i)  # Black Friday in November
    code_i = np.where(kind == 2, 5, code_i)
    pct = np.array([d[1] for d in _DISCOUNTS])[code_i]
    discount = np.where(has_disc, np.round(subtotal * pct / 100).astype(np.int64), 0)
    total = subtotal - discount
    code = where_or_none(has_disc, obj([d[0] for d in _DISCOUNTS])[code_i])
    recent = t > HORIZON - 5 * DAY
    fs_r = rng.random(n)
    status = np.where(recent & (fs_r < 0.5), "pending", np.where(fs_r > 0.95, "refunded", "paid")).astype(
        object
    )
    order_id = 5_600_000_000_000 + np.cumsum(rng.integers(1, 5_000, n))
    item_id = 15_000_000_000_000 + np.cumsum(rng.integers(1, 3_000, m_items))
    channel = np.where(in_store, "store", "online").astype(object)
    sink.write(
        "shop.orders",
        {
            "order_id": order_id,
            "customer_id": _nullable_int(cid),
            "email": emails_for(rng, P, person, ORDER_NOISE),
            "channel": channel,
            "store_id": where_or_none(in_store, store_ids[np.maximum(store_of, 0)]),
            "currency": obj([c.currency for c in COUNTRIES])[country],
            "subtotal_price": subtotal / 100.0,
            "total_discounts": discount / 100.0,
            "total_price": total / 100.0,
            "discount_code": code,
            "financial_status": status,
            "created_at": t,
            "_loaded_at": LOADED["shop"],
        },
        P.pid[person],
    )
    sink.write(
        "shop.order_items",
        {
            "order_item_id": item_id,
            "order_id": order_id[it_order],
            "product_id": cat.product_id[product],
            "product_name": cat.name[product],
            "category": cat.category[product],
            "quantity": qty,
            "price": price_cents / 100.0,
            "_loaded_at": LOADED["shop"],
        },
        P.pid[person[it_order]],
    )
    return ShopState(
        cust_of,
        cust_created,
        order_id,
        person,
        t,
        ~in_store,
        is_registered,
        total / 100.0,
        it_order,
        product,
        price_cents,
        qty,
    )


def _nullable_int(v: np.ndarray) -> pa.Array:
    """int64 arrow array with nulls where v < 0."""
    return pa.array(v, pa.int64(), mask=v < 0)


# ============================================================================================ POS
def write_pos(
    rng: np.random.Generator,
    P: People,
    stores: list[Store],
    rainy: np.ndarray,
    closed: np.ndarray,
    sink: Sink,
) -> None:
    """pos.transactions. rainy/closed: (region, day since START) booleans from the reference data."""
    shoppers = np.flatnonzero(P.store_shopper)
    rate = np.where(P.loyalty[shoppers], 0.0075, 0.004) * P.activity[shoppers]
    own, t = poisson_times(
        rng, rate, np.maximum(P.t0[shoppers], START), np.full(len(shoppers), HORIZON), P.churn_t[shoppers]
    )
    # Opening hours 09:00-20:00.
    t = t - t % DAY + rng.integers(9 * HOUR, 20 * HOUR, len(t))
    # Every loyalty member's card was issued with a purchase at sign-up (see the store_signup consent).
    members = np.flatnonzero(P.loyalty)
    person = np.concatenate([shoppers[own], members])
    t = np.concatenate([t, P.loyalty_t[members]])
    is_signup = np.arange(len(t)) >= len(own)
    n = len(person)
    region = P.region[person]
    store_region = np.array([s.region for s in stores])
    store_country = REGION_COUNTRY[store_region]
    store_of = np.empty(n, dtype=np.int64)
    away = rng.random(n) < 0.08
    for ri in range(len(REGIONS)):
        m = np.flatnonzero((region == ri) & ~away)
        cand = np.flatnonzero(store_region == ri)
        store_of[m] = cand[rng.integers(0, len(cand), len(m))]
        m = np.flatnonzero((region == ri) & away)
        cand = np.flatnonzero(store_country == REGION_COUNTRY[ri])
        store_of[m] = cand[rng.integers(0, len(cand), len(m))]
    day = ((t - START) // DAY).astype(np.int64)
    s_region = store_region[store_of]
    for _ in range(3):  # a sign-up on a closing day happens the next day
        shift = is_signup & closed[s_region, day]
        t[shift] += DAY
        day[shift] += 1
    rain_skip = rainy[s_region, day] & (rng.random(n) < 0.3)  # fewer visits when it pours
    keep = (~closed[s_region, day] & ~rain_skip) | is_signup
    t, person, store_of, is_signup = _sorted_by(t[keep], person[keep], store_of[keep], is_signup[keep])
    n = len(t)

    card_base = affine_permutation(np.arange(P.n), 10**10, rng)
    card = padded_ids("", card_base, 10).to_numpy(zero_copy_only=False).astype(object)
    card2 = (
        padded_ids("", affine_permutation(np.arange(P.n), 10**10, rng), 10)
        .to_numpy(zero_copy_only=False)
        .astype(object)
    )
    replaced_t = np.where(rng.random(P.n) < 0.08, rng.integers(START, HORIZON, P.n), NEVER)
    is_loyal = P.loyalty[person]
    present = is_loyal & ((rng.random(n) < 0.85) | is_signup)
    loyalty_card = np.where(t < replaced_t[person], card[person], card2[person])
    loyalty_card = where_or_none(present, "LC" + loyalty_card)
    junk = present & (rng.random(n) < 0.006)
    loyalty_card[junk] = obj(["0000000000", "n/a", "unknown", "LC0000000000"])[
        rng.integers(0, 4, int(junk.sum()))
    ]
    phone = phones_for(rng, P, person, POS_NOISE)
    phone[rng.random(n) > 0.15] = None

    item_count = 1 + rng.poisson(1.3, n)
    country = store_country[store_of]
    factor = np.array([c.price_factor for c in COUNTRIES])[country]
    amount = np.round(item_count * rng.lognormal(2.9, 0.6, n) * factor, 2)
    store_ids = obj([s.store_id for s in stores])
    tx_id = (
        padded_ids("", np.arange(1, n + 1) * 7 + rng.integers(0, 7, n), 10)
        .to_numpy(zero_copy_only=False)
        .astype(object)
    )
    tx_id = store_ids[store_of] + "-" + tx_id
    transacted = ts_strings(t, "space")
    corrupt(rng, transacted)
    store_col = store_ids[store_of].copy()
    store_col[rng.random(n) < 0.001] = None
    sink.write(
        "pos.transactions",
        {
            "transaction_id": tx_id,
            "store_id": store_col,
            "loyalty_card_number": loyalty_card,
            "phone": phone,
            "amount": amount,
            "currency": obj([c.currency for c in COUNTRIES])[country],
            "item_count": item_count,
            "transacted_at": transacted,
            "_loaded_at": LOADED["pos"],
        },
        P.pid[person],
    )


# ============================================================================================ support
_SUBJECTS = [
    "Where is my order?",
    "Refund request",
    "Item arrived damaged",
    "Wrong size delivered",
    "Loyalty card not working",
    "Change my delivery address",
    "Cannot log in to my account",
    "Discount code not accepted",
    "Question about match tickets",
    "Unsubscribe me from emails",
    "Return label missing",
    "Charged twice",
    "Product question",
    "Delete my data (GDPR)",
]
_COMMENTS = [
    "Quick and helpful, thanks!",
    "Took far too long.",
    "Problem solved.",
    "Still waiting for my refund.",
    "Very friendly agent.",
    "Not happy with the outcome.",
    "Great service as always.",
    "Had to explain my issue three times.",
    "ok",
    "Love the shop, keep it up!",
]


def write_support(rng: np.random.Generator, P: People, sink: Sink) -> None:
    who = np.flatnonzero(P.support)
    k = 1 + rng.poisson(0.5, len(who))
    person = np.repeat(who, k)
    n = len(person)
    lo = np.maximum(P.t0[person], START)
    t = lo + (rng.random(n) * (HORIZON - lo)).astype(np.int64)
    # Planted signal: churners often contacted support shortly before they left.
    churn = P.churn_t[person]
    pre_churn = (churn < HORIZON) & (rng.random(n) < 0.5)
    t = np.where(pre_churn, churn - rng.integers(0, 30 * DAY, n), t)
    t = np.clip(t, lo, HORIZON - HOUR)
    t = t - t % DAY + rng.integers(7 * HOUR, 22 * HOUR, n)
    t = np.minimum(t, HORIZON - HOUR)
    t, person, pre_churn = _sorted_by(t, person, pre_churn)
    channel = pick(rng, ["email", "web", "phone", "chat"], n, [0.4, 0.25, 0.2, 0.15])
    age_days = (HORIZON - t) / DAY
    resolve = t + rng.integers(HOUR, 10 * DAY, n)
    done = resolve < HORIZON
    status = np.where(
        done,
        pick(rng, ["solved", "closed"], n, [0.4, 0.6]),
        pick(rng, ["new", "open", "pending"], n, [0.3, 0.45, 0.25]),
    )
    status = np.where(age_days > 60, "closed", status).astype(object)
    updated = np.where(done, resolve, np.minimum(t + rng.integers(0, 2 * DAY, n), HORIZON))
    email = emails_for(rng, P, person, SUPPORT_NOISE)
    email[(channel == "phone") & (rng.random(n) < 0.7)] = None
    phone = phones_for(rng, P, person, SUPPORT_NOISE)
    phone[(channel != "phone") & (rng.random(n) < 0.9)] = None
    phone[(channel == "phone") & (rng.random(n) < 0.1)] = None
    first, last = names_for(rng, P, person, t, SUPPORT_NOISE)
    style = rng.random(n)
    name = np.where(style < 0.8, first + " " + last, np.where(style < 0.9, first, last + ", " + first))
    name[rng.random(n) < 0.01] = None
    ticket_id = 100_000 + np.arange(1, n + 1)
    created_s, updated_s = ts_strings(t, "iso"), ts_strings(updated, "iso")
    corrupt(rng, created_s)
    corrupt(rng, updated_s)
    sink.write(
        "support.tickets",
        {
            "ticket_id": ticket_id,
            "requester_email": email,
            "requester_phone": phone,
            "requester_name": name,
            "subject": pick(rng, _SUBJECTS, n),
            "status": status,
            "priority": pick(rng, ["low", "normal", "high", "urgent"], n, [0.25, 0.55, 0.15, 0.05]),
            "channel": channel,
            "created_at": created_s,
            "updated_at": updated_s,
            "_loaded_at": LOADED["support"],
        },
        P.pid[person],
    )

    # CSAT after solved tickets (unhappier before churn) + NPS surveys sent to a sample of customers.
    cs = np.flatnonzero(((status == "solved") | (status == "closed")) & (rng.random(n) < 0.45))
    cs_t = np.minimum(updated[cs] + rng.integers(HOUR, 3 * DAY, len(cs)), HORIZON)
    happy = np.array([0.04, 0.06, 0.12, 0.3, 0.48])
    sad = np.array([0.3, 0.25, 0.2, 0.15, 0.1])
    cs_score = (
        np.where(pre_churn[cs], rng.choice(5, size=len(cs), p=sad), rng.choice(5, size=len(cs), p=happy)) + 1
    )
    nps_who = np.flatnonzero((P.in_shop | P.in_crm) & (rng.random(P.n) < 0.06))
    nps_lo = np.maximum(P.t0[nps_who], START)
    nps_t = nps_lo + (rng.random(len(nps_who)) * (HORIZON - nps_lo)).astype(np.int64)
    churned_before = P.churn_t[nps_who] < nps_t + 60 * DAY
    nps_score = np.clip(np.round(rng.normal(np.where(churned_before, 4.5, 7.8), 2.0)), 0, 10).astype(np.int64)
    r_person = np.concatenate([person[cs], nps_who])
    r_t = np.concatenate([cs_t, nps_t])
    r_ticket = np.concatenate([ticket_id[cs], np.full(len(nps_who), -1)])
    r_type = np.concatenate(
        [np.full(len(cs), "csat", dtype=object), np.full(len(nps_who), "nps", dtype=object)]
    )
    r_score = np.concatenate([cs_score, nps_score])
    r_email = np.concatenate([email[cs], emails_for(rng, P, nps_who, SUPPORT_NOISE)])
    r_t, r_person, r_ticket, r_type, r_score, r_email = _sorted_by(
        r_t, r_person, r_ticket, r_type, r_score, r_email
    )
    m = len(r_t)
    comment = pick(rng, _COMMENTS, m)
    comment[rng.random(m) < 0.55] = None
    responded = ts_strings(r_t, "iso")
    corrupt(rng, responded)
    sink.write(
        "support.survey_responses",
        {
            "response_id": 500_000 + np.arange(1, m + 1),
            "ticket_id": _nullable_int(r_ticket),
            "requester_email": r_email,
            "survey_type": r_type,
            "score": r_score,
            "comment": comment,
            "responded_at": responded,
            "_loaded_at": LOADED["support"],
        },
        P.pid[r_person],
    )
