"""The people of the demo world (the planted truth) and how their identifiers look in each source.

A :class:`People` holds one row per person as numpy arrays. The ``*_for`` functions return the
identifiers as a given source would have captured them for a batch of records (person index +
record time), with that source's noise profile applied (:class:`Noise`).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from ._util import (
    DAY,
    HORIZON,
    HOUR,
    NEVER,
    START,
    affine_permutation,
    apply_some,
    is_set,
    map_unique,
    obj,
    uuid_array,
    where_or_none,
    zfill_ints,
)
from .world import (
    COUNTRIES,
    JUNK_EMAILS,
    JUNK_NAMES,
    JUNK_PHONES,
    NICKNAMES,
    REGION_COUNTRY,
    REGIONS,
    STREET_ABBREVIATIONS,
    UA_OFFSET,
    USER_AGENTS,
    Pools,
    ascii_fold,
    email_local,
    random_postcodes,
)

DEVICE_TYPES = ["desktop", "mobile", "tablet", "kiosk"]
LIBRARIES = ["analytics.js", "analytics-ios", "analytics-android"]


@dataclass
class People:
    n: int
    pid: np.ndarray  # person_id, 1..n
    region: np.ndarray
    country: np.ndarray
    female: np.ndarray
    first: np.ndarray
    last: np.ndarray  # current surname
    maiden: np.ndarray  # surname before marriage, or None
    marriage_t: np.ndarray  # NEVER if not married in/just before the window
    dob: np.ndarray  # datetime64[D]
    household: np.ndarray  # household id (persons alone in their household have their own id)
    street: np.ndarray
    city: np.ndarray
    postcode: np.ndarray
    old_street: np.ndarray  # previous address for movers, else None
    old_city: np.ndarray
    old_postcode: np.ndarray
    old_region: np.ndarray  # -1 if not moved
    move_t: np.ndarray  # NEVER if not moved
    email1: np.ndarray
    email2: np.ndarray  # None if only one address
    family_email: np.ndarray  # shared household inbox, or None
    ph_a: np.ndarray
    ph_b: np.ndarray
    ph_c: np.ndarray
    home_ip: np.ndarray
    activity: np.ndarray  # relative activity rate, mean ~1 (lognormal)
    engagement: np.ndarray  # probability of opening a marketing email
    t0: np.ndarray  # first seen in the world (>= START)
    pre: np.ndarray  # already a customer before START
    churn_t: np.ndarray  # NEVER for persons who do not churn
    anon_only: np.ndarray
    in_crm: np.ndarray
    in_shop: np.ndarray
    loyalty: np.ndarray
    store_shopper: np.ndarray  # buys in stores (with or without a loyalty card)
    support: np.ndarray
    tracked: np.ndarray  # has web/app devices sending events
    matchgoer: np.ndarray  # buys match tickets seasonally
    guest_buyer: np.ndarray  # orders online as a guest (no shop account)
    mkt_grant_t: np.ndarray  # email-marketing consent granted at (NEVER if never)
    mkt_withdraw_t: np.ndarray  # ... and withdrawn at (NEVER if never)
    loyalty_t: np.ndarray  # loyalty card sign-up in a store (NEVER if no card)
    # devices (one row per device; persons' devices are contiguous)
    dev_person: np.ndarray
    dev_type: np.ndarray  # index into DEVICE_TYPES
    dev_lib: np.ndarray  # index into LIBRARIES
    dev_start: np.ndarray
    dev_ua: np.ndarray  # index into UA_LIST
    dev_anon: pa.Array
    dev_id: pa.Array  # nullable (web browsers have no device id)
    dev_first: np.ndarray  # per person: index of the first device
    dev_count: np.ndarray  # per person: number of devices


def _choice_from_pools(rng: np.random.Generator, pools: list[np.ndarray], country: np.ndarray) -> np.ndarray:
    out = np.empty(len(country), dtype=object)
    for ci, pool in enumerate(pools):
        m = country == ci
        out[m] = pool[rng.integers(0, len(pool), int(m.sum()))]
    return out


def _surname(pools: Pools, country: np.ndarray, idx: np.ndarray, female: np.ndarray) -> np.ndarray:
    out = np.empty(len(idx), dtype=object)
    for ci in range(len(COUNTRIES)):
        m = country == ci
        male_pool, fem_pool = pools.last[ci], pools.last_female[ci]
        j = idx[m] % len(male_pool)
        out[m] = np.where(female[m], fem_pool[j], male_pool[j])
    return out


def _addresses(rng: np.random.Generator, pools: Pools, region: np.ndarray) -> tuple[np.ndarray, ...]:
    n = len(region)
    street, city, postcode = (np.empty(n, dtype=object) for _ in range(3))
    country = REGION_COUNTRY[region]
    house = rng.integers(1, 220, n)
    flat = rng.integers(1, 40, n)
    has_flat = rng.random(n) < 0.25
    for ci in range(len(COUNTRIES)):
        m = np.flatnonzero(country == ci)
        s = pools.street[ci][rng.integers(0, len(pools.street[ci]), len(m))]
        h = house[m].astype(str).astype(object)
        if ci == 0:
            street[m] = np.where(
                has_flat[m], "Flat " + flat[m].astype(str).astype(object) + ", " + h + " " + s, h + " " + s
            )
        elif ci == 1:
            street[m] = np.where(
                has_flat[m], s + " " + h + "/" + flat[m].astype(str).astype(object), s + " " + h
            )
        else:
            street[m] = s + " " + h
    for ri, r in enumerate(REGIONS):
        m = np.flatnonzero(region == ri)
        if not len(m):
            continue
        w = np.array([2.0**-k for k in range(len(r.cities))])
        ci_ = rng.choice(len(r.cities), size=len(m), p=w / w.sum())
        for k, c in enumerate(r.cities):
            mm = m[ci_ == k]
            city[mm] = c.name
            pref = obj(list(c.postcode_prefixes))[rng.integers(0, len(c.postcode_prefixes), len(mm))]
            postcode[mm] = random_postcodes(rng, r.country, pref)
    return street, city, postcode


_LOCAL_PATTERN_W = np.array([0.22, 0.12, 0.05, 0.1, 0.15, 0.1, 0.16, 0.1])


def _email_locals(
    rng: np.random.Generator, first: np.ndarray, last: np.ndarray, dob_year: np.ndarray
) -> np.ndarray:
    n = len(first)
    f = map_unique(email_local, first)
    la = map_unique(email_local, last)
    pat = rng.choice(len(_LOCAL_PATTERN_W), size=n, p=_LOCAL_PATTERN_W)
    yy = zfill_ints(dob_year % 100, 2)
    yyyy = dob_year.astype(str).astype(object)
    rnd = rng.integers(1, 999, n).astype(str).astype(object)
    initial = map_unique(lambda x: x[:1], f)
    variants = [
        f + "." + la,
        f + la,
        f + "_" + la,
        initial + "." + la,
        f + la + yy,
        f + "." + la + yyyy,
        f + rnd,
        la + "." + f,
    ]
    out = np.empty(n, dtype=object)
    for k, v in enumerate(variants):
        m = pat == k
        out[m] = v[m]
    return out


def _domains(rng: np.random.Generator, country: np.ndarray) -> np.ndarray:
    out = np.empty(len(country), dtype=object)
    for ci, c in enumerate(COUNTRIES):
        m = country == ci
        w = np.array(c.domain_weights)
        out[m] = obj(list(c.domains))[rng.choice(len(w), size=int(m.sum()), p=w / w.sum())]
    return out


def _dedupe_locals(rng: np.random.Generator, local: np.ndarray, domain: np.ndarray) -> np.ndarray:
    """Make every local@domain unique by appending digits to the later duplicates."""
    local = local.copy()
    full = local + "@" + domain
    codes = pa.array(full, pa.string()).dictionary_encode().indices.to_numpy(zero_copy_only=False)
    _, first_idx = np.unique(codes, return_index=True)
    dup = np.ones(len(local), dtype=bool)
    dup[first_idx] = False
    seen = set(full.tolist())
    for i, r in zip(np.flatnonzero(dup), rng.integers(2, 9999, int(dup.sum())), strict=True):
        cand, k = f"{local[i]}{r}", int(r)
        while f"{cand}@{domain[i]}" in seen:
            k += 7
            cand = f"{local[i]}{k}"
        seen.add(f"{cand}@{domain[i]}")
        local[i] = cand
    return local


def build_people(rng: np.random.Generator, n: int, pools: Pools) -> People:
    pid = np.arange(1, n + 1, dtype=np.int64)
    rw = np.array([r.weight for r in REGIONS])
    region = rng.choice(len(REGIONS), size=n, p=rw / rw.sum())
    female = rng.random(n) < 0.52

    # --- households: ~5% of persons live in households of 2-4 (shared address, often surname/phone/inbox)
    household = pid.copy()
    hh_member = np.zeros(n, dtype=bool)
    hh_head = np.arange(n)
    n_multi = int(round(0.05 * n))
    chosen = rng.permutation(n)[:n_multi]
    sizes = rng.choice([2, 3, 4], size=max(n_multi // 2, 1), p=[0.6, 0.28, 0.12])
    bounds = np.cumsum(sizes)
    bounds = bounds[bounds <= n_multi]
    starts = np.concatenate([[0], bounds[:-1]]) if len(bounds) else np.zeros(0, dtype=np.int64)
    shared_phone_hh = np.zeros(n, dtype=bool)  # per member: uses the head's phone
    family_hh = np.zeros(n, dtype=bool)
    hh_share_phone = rng.random(len(bounds)) < 0.4
    hh_family_inbox = rng.random(len(bounds)) < 0.3
    hh_same_surname = rng.random(n) < 0.75
    for k, (a, b) in enumerate(zip(starts, bounds, strict=True)):
        members = chosen[a:b]
        head = members[0]
        household[members] = pid[head]
        hh_head[members] = head
        hh_member[members] = True
        if hh_share_phone[k]:
            shared_phone_hh[members[1:]] = True
        if hh_family_inbox[k]:
            family_hh[members] = True
    region = region[hh_head]
    country = REGION_COUNTRY[region]

    first = np.where(
        female,
        _choice_from_pools(rng, pools.first_female, country),
        _choice_from_pools(rng, pools.first_male, country),
    )
    last_idx = rng.integers(0, 1 << 30, n)
    same = hh_member & hh_same_surname
    last_idx[same] = last_idx[hh_head[same]]
    last = _surname(pools, country, last_idx, female)
    married = female & (rng.random(n) < 0.05)
    maiden = np.full(n, None, dtype=object)
    maiden[married] = _surname(
        pools,
        country[married],
        rng.integers(0, 1 << 30, int(married.sum())),
        np.ones(int(married.sum()), dtype=bool),
    )
    marriage_t = np.full(n, NEVER, dtype=np.int64)
    marriage_t[married] = rng.integers(START - 365 * DAY, HORIZON, int(married.sum()))

    dob_days = rng.integers(
        int(np.datetime64("1946-01-01").astype(np.int64)),
        int(np.datetime64("2007-10-01").astype(np.int64)),
        n,
    )
    dob = dob_days.astype("datetime64[D]")
    dob_year = dob.astype("datetime64[Y]").astype(np.int64) + 1970

    street, city, postcode = _addresses(rng, pools, region)
    for arr in (street, city, postcode):
        arr[hh_member] = arr[hh_head[hh_member]]

    # --- movers: ~8% have an older address (in the same region 70% of the time)
    moved = rng.random(n) < 0.08
    moved[hh_member] = moved[hh_head[hh_member]]
    old_region = np.full(n, -1, dtype=np.int64)
    other = rng.choice(len(REGIONS), size=n, p=rw / rw.sum())
    other = np.where(REGION_COUNTRY[other] == country, other, region)
    old_region[moved] = np.where(rng.random(int(moved.sum())) < 0.7, region[moved], other[moved])
    os_, oc_, op_ = _addresses(rng, pools, np.maximum(old_region, 0))
    old_street, old_city, old_postcode = (np.full(n, None, dtype=object) for _ in range(3))
    old_street[moved], old_city[moved], old_postcode[moved] = os_[moved], oc_[moved], op_[moved]
    move_t = np.full(n, NEVER, dtype=np.int64)
    move_t[moved] = rng.integers(START + 60 * DAY, HORIZON - 30 * DAY, int(moved.sum()))
    for arr in (old_street, old_city, old_postcode, old_region, move_t):
        arr[hh_member] = arr[hh_head[hh_member]]

    # --- emails: one or two per person, unique across persons; a shared family inbox in some households
    name_for_email = np.where(married & (rng.random(n) < 0.5), maiden, last)
    local1 = _email_locals(rng, first, name_for_email, dob_year)
    dom1 = _domains(rng, country)
    has2 = rng.random(n) < 0.35
    local2 = _email_locals(rng, first, last, dob_year)
    dom2 = _domains(rng, country)
    same_dom = dom2 == dom1
    dom2[same_dom] = "outlook.com"
    last_local = map_unique(email_local, last)
    fam_local = np.where(np.arange(n) % 2 == 1, "the" + last_local + "s", last_local + "family")
    dom_f = _domains(rng, country)
    all_local = np.concatenate([local1, local2, fam_local])
    all_dom = np.concatenate([dom1, dom2, dom_f])
    all_local = _dedupe_locals(rng, all_local, all_dom)
    emails = all_local + "@" + all_dom
    email1 = emails[:n]
    email2 = where_or_none(has2, emails[n : 2 * n])
    fam = emails[2 * n :]
    family_email = np.full(n, None, dtype=object)
    family_email[family_hh] = fam[hh_head[family_hh]]

    # --- phones: unique mobile numbers, split into national parts; some household members share one
    u = affine_permutation(np.arange(n), 10**8, rng)
    d1 = rng.integers(0, 6, n)
    ph_a, ph_b, ph_c = (np.empty(n, dtype=object) for _ in range(3))
    hi2 = zfill_ints(u // 10**6, 2)
    mid3 = zfill_ints((u // 1000) % 1000, 3)
    lo3 = zfill_ints(u % 1000, 3)
    hi4 = zfill_ints(u // 10**4, 4)
    lo4 = zfill_ints(u % 10**4, 4)
    gb, pl, de = country == 0, country == 1, country == 2
    ph_a[gb] = "7" + (4 + d1[gb]).astype(str).astype(object) + hi2[gb]
    ph_b[gb], ph_c[gb] = mid3[gb], lo3[gb]
    ph_a[pl] = (5 + d1[pl] % 4).astype(str).astype(object) + hi2[pl]
    ph_b[pl], ph_c[pl] = mid3[pl], lo3[pl]
    ph_a[de] = "1" + obj(["51", "52", "57", "60", "62", "76"])[d1[de]]
    ph_b[de], ph_c[de] = hi4[de], lo4[de]
    for arr in (ph_a, ph_b, ph_c):
        arr[shared_phone_hh] = arr[hh_head[shared_phone_hh]]

    ip_int = rng.integers(0, 1 << 24, n)
    first_octet = obj(["81", "86", "92", "109", "151", "176", "188", "212", "37", "46"])[
        rng.integers(0, 10, n)
    ]
    home_ip = (
        first_octet
        + "."
        + ((ip_int >> 16) & 255).astype(str).astype(object)
        + "."
        + ((ip_int >> 8) & 255).astype(str).astype(object)
        + "."
        + (ip_int & 255).astype(str).astype(object)
    )
    home_ip[hh_member] = home_ip[hh_head[hh_member]]

    # --- activity, lifecycle, churn
    activity = rng.lognormal(-0.5, 1.0, n)
    engagement = rng.beta(2.0, 3.5, n)
    pre = rng.random(n) < 0.4
    t0 = np.where(pre, START, rng.integers(START, HORIZON - 14 * DAY, n))
    churns = rng.random(n) < 0.3
    churn_t = np.where(churns, t0 + (rng.random(n) * (HORIZON - t0)).astype(np.int64), NEVER)
    churn_t = np.where(churns & (churn_t < t0 + 30 * DAY), t0 + 30 * DAY, churn_t)

    # --- source coverage
    anon_only = rng.random(n) < 0.12
    known = ~anon_only
    in_shop = known & (rng.random(n) < 0.68)
    in_crm = known & (rng.random(n) < np.where(in_shop, 0.42, 0.5))
    loyalty = known & (rng.random(n) < 0.34)
    store_shopper = loyalty | (known & (rng.random(n) < 0.15))
    support = known & (rng.random(n) < np.where(in_shop, 0.2, 0.08))
    guest_buyer = known & ~in_shop & (rng.random(n) < 0.25)
    guest_buyer |= in_shop & (rng.random(n) < 0.04)
    nothing = known & ~(in_shop | in_crm | store_shopper | support | guest_buyer)
    in_crm |= nothing
    tracked = anon_only | (in_shop & (rng.random(n) < 0.88)) | (known & ~in_shop & (rng.random(n) < 0.3))
    matchgoer = in_shop & (rng.random(n) < 0.06)

    # --- email-marketing consent (drives ESP sends and consent events)
    has_email_source = in_shop | in_crm
    grants = has_email_source & (rng.random(n) < 0.5)
    mkt_grant_t = np.where(grants, t0 + rng.integers(0, 20 * DAY, n), NEVER)
    mkt_grant_t = np.where(
        pre & grants & (rng.random(n) < 0.7), START - rng.integers(DAY, 700 * DAY, n), mkt_grant_t
    )
    withdraws = grants & (rng.random(n) < 0.18)
    mkt_withdraw_t = np.where(
        withdraws,
        np.maximum(mkt_grant_t, START)
        + (rng.random(n) * (HORIZON - np.maximum(mkt_grant_t, START))).astype(np.int64),
        NEVER,
    )

    # --- loyalty card sign-up: in store, during opening hours, within a month of first being seen
    signup = np.minimum(np.maximum(t0, START) + rng.integers(0, 30 * DAY, n), HORIZON - DAY)
    signup = signup - signup % DAY + rng.integers(9 * HOUR, 19 * HOUR, n)
    loyalty_t = np.where(loyalty, signup, NEVER)

    # --- devices: 1-3 per tracked person
    dev_count = np.where(tracked, rng.choice([1, 2, 3], size=n, p=[0.5, 0.35, 0.15]), 0)
    dev_first = np.concatenate([[0], np.cumsum(dev_count)[:-1]]).astype(np.int64)
    n_dev = int(dev_count.sum())
    dev_person = np.repeat(np.arange(n), dev_count)
    slot = np.arange(n_dev) - dev_first[dev_person]
    dev_type = rng.choice(3, size=n_dev, p=[0.4, 0.5, 0.1])
    lib_r = rng.random(n_dev)
    dev_lib = np.where(
        dev_type == 1,
        np.where(lib_r < 0.4, 0, np.where(lib_r < 0.7, 1, 2)),
        np.where((dev_type == 2) & (lib_r < 0.3), 1, 0),
    )
    dev_start = np.where(
        slot == 0,
        t0[dev_person],
        t0[dev_person] + (rng.random(n_dev) * (HORIZON - t0[dev_person]) * 0.6).astype(np.int64),
    )
    dev_ua = np.zeros(n_dev, dtype=np.int64)
    for t_i, t_name in enumerate(DEVICE_TYPES[:3]):
        for lib_i, lib_name in enumerate(LIBRARIES):
            m = (dev_type == t_i) & (dev_lib == lib_i)
            key = t_name if lib_i == 0 else lib_name
            dev_ua[m] = UA_OFFSET[key] + rng.integers(0, len(USER_AGENTS[key]), int(m.sum()))
    dev_anon = uuid_array(rng, n_dev)
    app_ids = uuid_array(rng, n_dev, upper=True)
    dev_id = pc.if_else(pa.array(dev_lib == 0), pa.scalar(None, pa.string()), app_ids)

    return People(
        n=n,
        pid=pid,
        region=region,
        country=country,
        female=female,
        first=first,
        last=last,
        maiden=maiden,
        marriage_t=marriage_t,
        dob=dob,
        household=household,
        street=street,
        city=city,
        postcode=postcode,
        old_street=old_street,
        old_city=old_city,
        old_postcode=old_postcode,
        old_region=old_region,
        move_t=move_t,
        email1=email1,
        email2=email2,
        family_email=family_email,
        ph_a=ph_a,
        ph_b=ph_b,
        ph_c=ph_c,
        home_ip=home_ip,
        activity=activity,
        engagement=engagement,
        t0=t0,
        pre=pre,
        churn_t=churn_t,
        anon_only=anon_only,
        in_crm=in_crm,
        in_shop=in_shop,
        loyalty=loyalty,
        store_shopper=store_shopper,
        support=support,
        tracked=tracked,
        matchgoer=matchgoer,
        guest_buyer=guest_buyer,
        mkt_grant_t=mkt_grant_t,
        mkt_withdraw_t=mkt_withdraw_t,
        loyalty_t=loyalty_t,
        dev_person=dev_person,
        dev_type=dev_type,
        dev_lib=dev_lib,
        dev_start=dev_start,
        dev_ua=dev_ua,
        dev_anon=dev_anon,
        dev_id=dev_id,
        dev_first=dev_first,
        dev_count=dev_count,
    )


# ================================================================================================ noise
@dataclass(frozen=True)
class Noise:
    """Per-source probabilities of each kind of identifier noise (applied per record)."""

    email_second: float = 0.15  # the person's second address instead of the first
    email_family: float = 0.5  # the household's shared inbox (members of such households only)
    email_typo: float = 0.01
    email_plus: float = 0.0  # +tag on gmail-like addresses (same mailbox)
    email_dots: float = 0.0  # dots removed/added in gmail local parts (same mailbox)
    email_case: float = 0.03
    email_space: float = 0.01
    email_junk: float = 0.012
    email_null: float = 0.0
    phone_formats: tuple[float, float, float, float, float] = (0.4, 0.2, 0.25, 0.1, 0.05)
    phone_junk: float = 0.012
    phone_null: float = 0.3
    name_nick: float = 0.25  # of persons whose first name has a nickname
    name_typo: float = 0.012
    name_swap: float = 0.008
    name_case: float = 0.02
    name_fold: float = 0.2  # of non-ASCII names: accents/Polish letters stripped
    name_junk: float = 0.003
    addr_abbrev: float = 0.15
    addr_postcode: float = 0.04
    addr_stale: float = 0.3  # still the old address although the record is newer than the move


_EMAIL_DOMAIN_TYPOS = {
    "gmail.com": ["gmial.com", "gmail.con", "gmai.com", "gnail.com", "gmail.co"],
    "googlemail.com": ["googlemail.con", "googlemial.com"],
    "hotmail.co.uk": ["hotmial.co.uk", "hotmail.co", "hotmail.com.uk"],
    "outlook.com": ["outlok.com", "outlook.con"],
    "yahoo.co.uk": ["yaho.co.uk", "yahoo.co.uk.uk"],
    "btinternet.com": ["btinternet.co", "btinternt.com"],
    "icloud.com": ["icloud.con", "iclod.com"],
    "wp.pl": ["wp.p", "wpp.pl"],
    "onet.pl": ["onet.p", "onte.pl"],
    "o2.pl": ["02.pl"],
    "interia.pl": ["interia.p", "interria.pl"],
    "gmx.de": ["gmx.d", "gmx.dee"],
    "web.de": ["wep.de", "web.d"],
    "t-online.de": ["t-onlien.de", "tonline.de"],
    "sky.com": ["sky.con"],
}


def typo_string(s: str, r: int) -> str:
    """A plausible keyboard typo: swap two adjacent letters, drop one, or double one (never the first)."""
    if len(s) < 3:
        return s + s[-1:]
    i = 1 + r % (len(s) - 2)
    kind = (r >> 8) % 3
    if kind == 0 and s[i] != s[i + 1]:
        return s[:i] + s[i + 1] + s[i] + s[i + 2 :]
    if kind == 1:
        return s[:i] + s[i + 1 :]
    return s[:i] + s[i] + s[i:]


def email_typo(e: str, r: int) -> str:
    local, _, domain = e.partition("@")
    if r % 2 == 0 and domain in _EMAIL_DOMAIN_TYPOS:
        options = _EMAIL_DOMAIN_TYPOS[domain]
        return f"{local}@{options[(r >> 4) % len(options)]}"
    return f"{typo_string(local, r >> 1)}@{domain}"


_PLUS_TAGS = ["shop", "tessera", "news", "promo", "2024", "orders", "spam"]


def email_plus(e: str, r: int) -> str:
    local, _, domain = e.partition("@")
    return f"{local}+{_PLUS_TAGS[r % len(_PLUS_TAGS)]}@{domain}"


def email_dots(e: str, r: int) -> str:
    local, _, domain = e.partition("@")
    if "." in local:
        return f"{local.replace('.', '')}@{domain}"
    i = 1 + r % max(len(local) - 1, 1)
    return f"{local[:i]}.{local[i:]}@{domain}"


def email_case(e: str, r: int) -> str:
    if r % 3 == 0:
        return e.upper()
    local, _, domain = e.partition("@")
    parts = local.split(".")
    return (
        ".".join(p[:1].upper() + p[1:] for p in parts) + "@" + (domain.capitalize() if r % 3 == 1 else domain)
    )


def pad_space(s: str, r: int) -> str:
    return [" " + s, s + " ", "  " + s + " ", s + "\t"][r % 4]


def emails_for(rng: np.random.Generator, P: People, pidx: np.ndarray, nz: Noise) -> np.ndarray:
    """The email address each record carries."""
    n = len(pidx)
    out = P.email1[pidx].copy()
    e2 = P.email2[pidx]
    m = (rng.random(n) < nz.email_second) & is_set(e2)
    out[m] = e2[m]
    fam = P.family_email[pidx]
    m = (rng.random(n) < nz.email_family) & is_set(fam)
    out[m] = fam[m]
    apply_some(out, rng.random(n) < nz.email_typo, email_typo, rng)
    if nz.email_plus or nz.email_dots:
        gm = np.array(
            [isinstance(e, str) and e.endswith(("@gmail.com", "@googlemail.com")) for e in out], dtype=bool
        )
        apply_some(out, gm & (rng.random(n) < nz.email_plus), email_plus, rng)
        apply_some(out, gm & (rng.random(n) < nz.email_dots), email_dots, rng)
    apply_some(out, rng.random(n) < nz.email_case, email_case, rng)
    apply_some(out, rng.random(n) < nz.email_space, pad_space, rng)
    junk = rng.random(n) < nz.email_junk
    out[junk] = obj(JUNK_EMAILS)[rng.integers(0, len(JUNK_EMAILS), int(junk.sum()))]
    out[rng.random(n) < nz.email_null] = None
    return out


# Phone templates per country; "a b c" are the national parts. Format 0 = local, 1 = national compact,
# 2 = international with spaces, 3 = international compact, 4 = 00-prefixed international.
_PHONE_TEMPLATES: list[list[list[str]]] = [
    [
        ["0", "a", " ", "b", "c"],
        ["0", "a", "b", "c"],
        ["+44 ", "a", " ", "b", "c"],
        ["+44", "a", "b", "c"],
        ["0044 ", "a", " ", "b", "c"],
    ],
    [
        ["a", " ", "b", " ", "c"],
        ["a", "b", "c"],
        ["+48 ", "a", " ", "b", " ", "c"],
        ["+48", "a", "b", "c"],
        ["0048", "a", "b", "c"],
    ],
    [
        ["0", "a", " ", "b", "c"],
        ["0", "a", "b", "c"],
        ["+49 ", "a", " ", "b", "c"],
        ["+49", "a", "b", "c"],
        ["0049 ", "a", " ", "b", " ", "c"],
    ],
]


def phones_for(rng: np.random.Generator, P: People, pidx: np.ndarray, nz: Noise) -> np.ndarray:
    n = len(pidx)
    out = np.empty(n, dtype=object)
    fmt = rng.choice(5, size=n, p=np.array(nz.phone_formats) / sum(nz.phone_formats))
    country = P.country[pidx]
    parts = {"a": P.ph_a[pidx], "b": P.ph_b[pidx], "c": P.ph_c[pidx]}
    for ci, templates in enumerate(_PHONE_TEMPLATES):
        for f, tpl in enumerate(templates):
            m = (country == ci) & (fmt == f)
            if not m.any():
                continue
            acc: np.ndarray | str | None = None  # a template may start with a literal
            for tok in tpl:
                piece = parts[tok][m] if tok in parts else tok
                acc = piece if acc is None else acc + piece
            out[m] = acc
    junk = rng.random(n) < nz.phone_junk
    out[junk] = obj(JUNK_PHONES)[rng.integers(0, len(JUNK_PHONES), int(junk.sum()))]
    out[(rng.random(n) < nz.phone_null) & ~junk] = None
    return out


_NICK_POOL = {k: obj(v) for k, v in NICKNAMES.items()}


def names_for(
    rng: np.random.Generator, P: People, pidx: np.ndarray, t: np.ndarray, nz: Noise
) -> tuple[np.ndarray, np.ndarray]:
    """(first, last) as recorded at time t (maiden name before the marriage) with name noise."""
    n = len(pidx)
    first = P.first[pidx].copy()
    last = np.where(t < P.marriage_t[pidx], P.maiden[pidx], P.last[pidx])
    last = np.where(is_set(last), last, P.last[pidx])
    nick_r = rng.random(n) < nz.name_nick
    if nick_r.any():
        idx = np.flatnonzero(nick_r)
        r = rng.integers(0, 1 << 20, len(idx))
        first[idx] = obj(
            [
                NICKNAMES[f][ri % len(NICKNAMES[f])] if f in NICKNAMES else f
                for f, ri in zip(first[idx], r, strict=True)
            ]
        )
    apply_some(first, rng.random(n) < nz.name_typo, typo_string, rng)
    apply_some(last, rng.random(n) < nz.name_typo, typo_string, rng)
    fold = rng.random(n) < nz.name_fold
    if fold.any():
        apply_some(first, fold, lambda s, r: ascii_fold(s, german=r % 2 == 0), rng)
        apply_some(last, fold, lambda s, r: ascii_fold(s, german=r % 2 == 0), rng)
    case = rng.random(n) < nz.name_case
    upper = rng.random(n) < 0.5
    first[case & upper] = obj([s.upper() for s in first[case & upper]])
    last[case & upper] = obj([s.upper() for s in last[case & upper]])
    first[case & ~upper] = obj([s.lower() for s in first[case & ~upper]])
    last[case & ~upper] = obj([s.lower() for s in last[case & ~upper]])
    swap = rng.random(n) < nz.name_swap
    first[swap], last[swap] = last[swap], first[swap].copy()
    junk = rng.random(n) < nz.name_junk
    first[junk] = obj(JUNK_NAMES)[rng.integers(0, len(JUNK_NAMES), int(junk.sum()))]
    return first, last


def _abbreviate(s: str, r: int) -> str:
    for full, short in STREET_ABBREVIATIONS:
        if full in s:
            return s.replace(full, short)
    return s.upper() if r % 5 == 0 else s


def _postcode_variant(s: str, r: int) -> str:
    if r % 2 == 0:
        return s.replace(" ", "").replace("-", "")
    return s.lower()


def addresses_for(
    rng: np.random.Generator, P: People, pidx: np.ndarray, t: np.ndarray, nz: Noise
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(street, city, postcode, region, country) as known at time t (old address before a move)."""
    n = len(pidx)
    move = P.move_t[pidx]
    use_old = (move < NEVER) & ((t < move) | (rng.random(n) < nz.addr_stale))
    street = np.where(use_old, P.old_street[pidx], P.street[pidx])
    city = np.where(use_old, P.old_city[pidx], P.city[pidx])
    postcode = np.where(use_old, P.old_postcode[pidx], P.postcode[pidx])
    reg = np.where(use_old, P.old_region[pidx], P.region[pidx])
    apply_some(street, rng.random(n) < nz.addr_abbrev, _abbreviate, rng)
    apply_some(postcode, rng.random(n) < nz.addr_postcode, _postcode_variant, rng)
    region = obj([r.name for r in REGIONS])[reg]
    country = obj([c.code for c in COUNTRIES])[REGION_COUNTRY[reg]]
    return street, city, postcode, region, country
