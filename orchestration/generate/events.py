"""Web/app behavioural events (Segment-style tracks, pages, identifies), generated per chunk of persons.

Sessions come from three processes: browsing (a thinned Poisson process per tracked person), purchase
sessions that end in a real online order, and sessions on shared in-store kiosks. A device is anonymous
until its first login; the login session carries an `identifies` call (anonymous_id + user_id) in the
middle, after the visitor has already browsed and added products to the cart anonymously.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from ._util import (
    DAY,
    HORIZON,
    HOUR,
    NEVER,
    START,
    US,
    PoolCol,
    fixed_width_to_arrow,
    group_rank,
    obj,
    poisson_times,
    uuid_array,
    uuid_chars,
    with_time_of_day,
)
from .people import DEVICE_TYPES, LIBRARIES, Noise, People, emails_for, names_for, phones_for
from .sink import Sink
from .sources import LOADED, ShopState
from .world import (
    CATEGORIES,
    COUNTRIES,
    UA_LIST,
    UA_OFFSET,
    WEB_CAMPAIGN_WEIGHTS,
    WEB_CAMPAIGNS,
    Catalogue,
    Store,
)

BASE_URL = "https://shop.tessera.example"
BROWSE_RATE = 0.0005  # sessions per day at activity 1.0 (before churn/seasonal thinning)
IDENTIFY_NOISE = Noise(
    email_second=0.1,
    email_family=0.2,
    email_typo=0.005,
    email_plus=0.03,
    email_case=0.03,
    email_space=0.01,
    email_junk=0.005,
    phone_formats=(0.3, 0.2, 0.3, 0.15, 0.05),
    phone_null=0.6,
    phone_junk=0.01,
    name_nick=0.15,
    name_fold=0.1,
)
DUPLICATE_RATE = 0.015
LATE_RATE = 0.01
OUT_OF_RANGE_RATE = 0.001
NULL_ID_RATE = 0.0005
NULL_EVENT_RATE = 0.0005
KIOSK_LOGIN_RATE = 0.3

TRACK_EVENTS = [
    "product_viewed",
    "product_added",
    "checkout_started",
    "order_completed",
    "product_list_viewed",
]
_TRACK_TEXT = [
    "Product Viewed",
    "Product Added",
    "Checkout Started",
    "Order Completed",
    "Product List Viewed",
]
_REFERRERS = {
    "google": "https://www.google.com/",
    "bing": "https://www.bing.com/",
    "facebook": "https://l.facebook.com/",
    "instagram": "https://l.instagram.com/",
    "tiktok": "https://www.tiktok.com/",
    "awin": "https://www.awin1.com/",
    "newsletter": "",
}
_EXTERNAL = ["", "https://www.google.com/", "https://duckduckgo.com/"]


@dataclass
class Kiosks:
    store: np.ndarray  # store index per kiosk
    anon: pa.Array
    device: pa.Array
    ip: list[str]
    # kiosk sessions (all persons): person, start, kiosk index
    s_person: np.ndarray
    s_t: np.ndarray
    s_kiosk: np.ndarray


def build_kiosks(rng: np.random.Generator, P: People, stores: list[Store]) -> Kiosks:
    """Shared in-store kiosks: one anonymous_id each, used by many different people."""
    n_k = min(len(stores), 1 + P.n // 100_000)
    store = (np.arange(n_k) * 5) % len(stores)
    anon = uuid_array(rng, n_k)
    device = uuid_array(rng, n_k, upper=True)
    ip = [f"194.60.{10 + int(s)}.{20 + k}" for k, s in enumerate(store)]
    # An empty world has kiosks but nobody to use them.
    per_kiosk = max(60, int(round(P.n * 0.004))) if P.n else 0
    persons, times, which = [], [], []
    known = ~P.anon_only
    for k, s in enumerate(store):
        cand = np.flatnonzero(known & (P.region == stores[int(s)].region))
        if not len(cand):
            cand = np.flatnonzero(known) if known.any() else np.arange(P.n)
        p = cand[rng.integers(0, len(cand), per_kiosk)] if per_kiosk else cand
        lo = np.maximum(P.t0[p], START)
        t = lo + (rng.random(per_kiosk) * (HORIZON - lo)).astype(np.int64)
        t = t - t % DAY + rng.integers(9 * HOUR, 19 * HOUR, per_kiosk)
        persons.append(p)
        times.append(np.minimum(t, HORIZON - HOUR))
        which.append(np.full(per_kiosk, k))
    return Kiosks(
        store, anon, device, ip, np.concatenate(persons), np.concatenate(times), np.concatenate(which)
    )


# layout inside one country's block of the URL pool
_HOME, _CART, _CHECKOUT, _THANKS, _LOGIN, _ACCOUNT, _SEARCH, _CAT0 = range(8)


@dataclass
class UrlPool:
    path: pa.Array
    url: pa.Array
    title: pa.Array
    referrer: pa.Array  # url pool followed by the external referrers
    per_country: int
    n_cat: int
    ext0: int  # index of the first external referrer in `referrer`


def build_url_pool(cat: Catalogue) -> UrlPool:
    paths, titles = [], []
    for c in COUNTRIES:
        pre = f"/{c.url_locale}"
        block = [
            (pre + "/", "Tessera – Home"),
            (pre + "/cart", "Your basket | Tessera"),
            (pre + "/checkout", "Checkout | Tessera"),
            (pre + "/checkout/thank-you", "Thank you | Tessera"),
            (pre + "/account/login", "Sign in | Tessera"),
            (pre + "/account", "My account | Tessera"),
            (pre + "/search?q=sale", "Search results | Tessera"),
        ]
        block += [(f"{pre}/c/{k}", f"{k.replace('_', ' ').title()} | Tessera") for k in CATEGORIES]
        block += [
            (f"{pre}/p/{pid}", f"{name} | Tessera")
            for pid, name in zip(cat.product_id, cat.name, strict=True)
        ]
        paths += [b[0] for b in block]
        titles += [b[1] for b in block]
    urls = [BASE_URL + p for p in paths]
    refs = urls + _EXTERNAL + [_REFERRERS[w[0]] for w in WEB_CAMPAIGNS]
    return UrlPool(
        pa.array(paths),
        pa.array(urls),
        pa.array(titles),
        pa.array(refs),
        len(paths) // len(COUNTRIES),
        len(CATEGORIES),
        len(urls),
    )


@dataclass
class _Ctx:
    """Per-session attributes of one chunk."""

    person: np.ndarray
    kind: np.ndarray  # 0 browse, 1 purchase, 2 kiosk
    order: np.ndarray  # row in the order arrays for purchase sessions, else -1
    kiosk: np.ndarray  # kiosk index, else -1
    dev: np.ndarray  # global device index, -1 for kiosk sessions
    start: np.ndarray
    dur: np.ndarray
    state: np.ndarray  # 0 anonymous, 1 logs in during the session, 2 logged in throughout
    id_frac: np.ndarray  # position (0..1) of the identify call in the session, 2.0 = none
    dtype_: np.ndarray
    lib: np.ndarray
    campaign: np.ndarray
    ip: np.ndarray  # index into the IP pool
    country: np.ndarray
    cust: np.ndarray


class EventGenerator:
    def __init__(self, P: People, S: ShopState, cat: Catalogue, stores: list[Store], kiosks: Kiosks) -> None:
        self.P, self.S, self.cat, self.stores, self.kiosks = P, S, cat, stores, kiosks
        self.urls = build_url_pool(cat)
        n_orders = len(S.order_id)
        self.item_start = np.searchsorted(S.item_order, np.arange(n_orders))
        self.item_count = np.bincount(S.item_order, minlength=n_orders)
        self.cat_products = [
            np.flatnonzero((cat.category_idx == k) & (cat.popularity > 0)) for k in range(len(CATEGORIES))
        ]
        self.normal = np.flatnonzero(cat.popularity > 0)
        self.pop = cat.popularity[self.normal] / cat.popularity[self.normal].sum()
        n_dev = len(P.dev_person)
        self.n_dev = n_dev
        self.anon_pool = pa.concat_arrays([P.dev_anon, kiosks.anon])
        self.devid_pool = pa.concat_arrays([P.dev_id, kiosks.device])
        carrier = [
            f"{a}.{b}.{c}.{d}"
            for a, b, c, d in zip(
                np.repeat([31, 82, 89, 176, 213], 400),
                np.tile(np.arange(400) % 250, 5),
                (np.arange(2000) * 37) % 250,
                (np.arange(2000) * 91) % 250,
                strict=True,
            )
        ]
        self.n_carrier = len(carrier)
        self.ip_pool = pa.array(np.concatenate([P.home_ip, obj(carrier), obj(kiosks.ip)]), pa.string())
        self.ua_pool = pa.array(UA_LIST)
        self.ev_pool = pa.array(TRACK_EVENTS)
        self.ev_text_pool = pa.array(_TRACK_TEXT)
        self.cat_pool = pa.array(CATEGORIES)
        self.product_pool = pa.array(cat.product_id, pa.string())
        self.camp_pools = [pa.array([w[i] for w in WEB_CAMPAIGNS]) for i in range(3)]
        self.dtype_pool = pa.array(DEVICE_TYPES)
        self.lib_pool = pa.array(LIBRARIES)

    # ------------------------------------------------------------------------------------------- chunk
    def chunk(self, rng: np.random.Generator, a: int, b: int, sink: Sink) -> None:
        P, S = self.P, self.S
        # --- browse sessions
        tp = a + np.flatnonzero(P.tracked[a:b])
        own, t = poisson_times(
            rng,
            P.activity[tp] * BROWSE_RATE,
            np.maximum(P.t0[tp], START),
            np.full(len(tp), HORIZON),
            P.churn_t[tp],
        )
        # Everyone tracked visits at least once (before churning); further visits follow the process above.
        lo = np.maximum(P.t0[tp], START)
        hi = np.maximum(np.minimum(P.churn_t[tp], HORIZON), lo)
        first = lo + (rng.random(len(tp)) * (hi - lo)).astype(np.int64)
        b_person = np.concatenate([tp[own], tp])
        b_t = np.concatenate([t, np.minimum(with_time_of_day(rng, first), HORIZON)])
        # --- purchase sessions (online orders of tracked persons; ~8% are not tracked: blockers)
        o = np.flatnonzero((S.order_person >= a) & (S.order_person < b) & S.order_online)
        o = o[P.tracked[S.order_person[o]] & (rng.random(len(o)) < 0.92)]
        # --- kiosk sessions
        kz = np.flatnonzero((self.kiosks.s_person >= a) & (self.kiosks.s_person < b))

        nb, no, nk = len(b_person), len(o), len(kz)
        person = np.concatenate([b_person, S.order_person[o], self.kiosks.s_person[kz]])
        kind = np.concatenate([np.zeros(nb, np.int64), np.ones(no, np.int64), np.full(nk, 2, np.int64)])
        order = np.concatenate([np.full(nb, -1), o, np.full(nk, -1)]).astype(np.int64)
        kiosk = np.concatenate([np.full(nb + no, -1), self.kiosks.s_kiosk[kz]]).astype(np.int64)
        ns = len(person)
        dur = rng.integers(2 * 60 * US, 25 * 60 * US, ns)
        start = np.concatenate([b_t, S.order_t[o] - dur[nb : nb + no], self.kiosks.s_t[kz]])
        registered_order = np.zeros(ns, dtype=bool)
        registered_order[nb : nb + no] = S.order_registered[o]

        # --- devices (kiosk sessions use the kiosk, not one of the person's devices)
        slot = np.searchsorted([0.6, 0.9], rng.random(ns), side="right")
        dev = np.full(ns, -1, dtype=np.int64)
        web = kind != 2
        cnt = P.dev_count[person[web]]
        d = P.dev_first[person[web]] + np.minimum(slot[web], cnt - 1)
        dev[web] = np.where(P.dev_start[d] > start[web], P.dev_first[person[web]], d)

        # --- login state: a device logs in at its first registered purchase or at a random time
        cust = S.customer_id[person]
        has_acct = cust >= 0
        d_lo, d_hi = int(P.dev_first[a]), int(P.dev_first[b - 1] + P.dev_count[b - 1])
        n_dev = d_hi - d_lo
        login_t = np.full(n_dev, NEVER, dtype=np.int64)
        buys = np.flatnonzero((kind == 1) & registered_order)
        np.minimum.at(login_t, dev[buys] - d_lo, start[buys])
        dev_person = P.dev_person[d_lo:d_hi]
        rand_login = (S.customer_id[dev_person] >= 0) & (rng.random(n_dev) < 0.55)
        lo = np.maximum(np.maximum(S.customer_created[dev_person], P.dev_start[d_lo:d_hi]), START)
        lo = np.minimum(lo, HORIZON)
        rt = lo + (rng.random(n_dev) * (HORIZON - lo)).astype(np.int64)
        login_t = np.where(rand_login, np.minimum(login_t, rt), login_t)
        state = np.zeros(ns, dtype=np.int64)
        guest_buy = (kind == 1) & ~registered_order  # checked out as a guest while logged out
        w = np.flatnonzero(web & has_acct & ~guest_buy)
        wd = dev[w] - d_lo
        srt = np.lexsort((start[w], wd))
        w, wd = w[srt], wd[srt]
        after = start[w] >= login_t[wd]
        prev_after = np.zeros(len(w), dtype=bool)
        prev_after[1:] = after[:-1] & (wd[1:] == wd[:-1])
        state[w] = np.where(after & ~prev_after, 1, np.where(after, 2, 0))
        kiosk_login = (kind == 2) & has_acct & (rng.random(ns) < KIOSK_LOGIN_RATE)
        state[kiosk_login] = 1  # kiosk sign-in, not persisted
        # Web sign-in happens after browsing and adding to the cart; at the kiosk people sign in early.
        id_frac = np.where(
            state == 1, np.where(kind == 2, rng.uniform(0.2, 0.45, ns), rng.uniform(0.72, 0.8, ns)), 2.0
        )
        id_frac = np.where((state == 2) & (rng.random(ns) < 0.1), 0.001, id_frac)  # re-identify on app open

        # --- session context
        is_kiosk = kind == 2
        dtype_ = np.full(ns, 3, dtype=np.int64)
        dtype_[web] = P.dev_type[dev[web]]
        lib = np.zeros(ns, dtype=np.int64)
        lib[web] = P.dev_lib[dev[web]]
        w_c = np.array(WEB_CAMPAIGN_WEIGHTS)
        campaign = np.where(
            rng.random(ns) < 0.32, rng.choice(len(WEB_CAMPAIGNS), size=ns, p=w_c / w_c.sum()), -1
        )
        campaign[is_kiosk] = -1
        ip = person.copy()
        mob = (dtype_ == 1) & (rng.random(ns) < 0.6)
        ip[mob] = P.n + rng.integers(0, self.n_carrier, int(mob.sum()))
        ip[is_kiosk] = P.n + self.n_carrier + kiosk[is_kiosk]
        ctx = _Ctx(
            person,
            kind,
            order,
            kiosk,
            dev,
            start,
            dur,
            state,
            id_frac,
            dtype_,
            lib,
            campaign,
            ip,
            P.country[person],
            cust,
        )
        self._tracks(rng, ctx, sink)
        self._pages(rng, ctx, sink)
        self._identifies(rng, ctx, sink)

    # ------------------------------------------------------------------------------------------- tracks
    def _browse_products(self, rng: np.random.Generator, person: np.ndarray) -> np.ndarray:
        prod = self.normal[rng.choice(len(self.normal), size=len(person), p=self.pop)]
        # Everyone has a favourite category half the time; match-goers look at their club's tickets.
        fav = (self.P.pid[person] * 2654435761 % 6).astype(np.int64)
        use_fav = rng.random(len(person)) < 0.5
        for k in range(6):
            m = np.flatnonzero(use_fav & (fav == k))
            pool = self.cat_products[k]
            prod[m] = pool[rng.integers(0, len(pool), len(m))]
        tk = self.P.matchgoer[person] & (rng.random(len(person)) < 0.3)
        prod[tk] = self.cat.ticket_product[self.P.region[person[tk]]]
        return prod

    def _tracks(self, rng: np.random.Generator, c: _Ctx, sink: Sink) -> None:
        S = self.S
        ns = len(c.person)
        buy = c.kind == 1
        n_items = np.zeros(ns, dtype=np.int64)
        n_items[buy] = self.item_count[c.order[buy]]
        n_view = np.where(buy, n_items, rng.poisson(np.where(c.kind == 2, 2.0, 1.1)))
        # product_added: purchases add their items; browsers sometimes add (more often right before login)
        n_add = np.where(
            buy, n_items, (rng.random(ns) < np.where(c.state == 1, 0.6, 0.22)) * (1 + (rng.random(ns) < 0.3))
        )
        n_checkout = np.where(buy, 1, ((n_add > 0) & (rng.random(ns) < 0.3)).astype(np.int64))
        n_list = (rng.random(ns) < 0.2).astype(np.int64)
        parts = []
        for et, cnt, lo, hi in (
            (0, n_view, 0.05, 0.5),
            (1, n_add, 0.5, 0.7),
            (2, n_checkout, 0.82, 0.9),
            (3, buy.astype(np.int64), 1.0, 1.0),
            (4, n_list, 0.0, 0.05),
        ):
            s = np.repeat(np.arange(ns), cnt)
            frac = rng.uniform(lo, hi, len(s)) if hi > lo else np.full(len(s), lo)
            prod = np.full(len(s), -1, dtype=np.int64)
            if et in (0, 1):
                rank = group_rank(s)
                prod = self._browse_products(rng, c.person[s])
                sb = buy[s] & (rank < n_items[s])
                prod[sb] = S.item_product[self.item_start[c.order[s[sb]]] + rank[sb]]
            parts.append((s, np.full(len(s), et), frac, prod))
        s = np.concatenate([p[0] for p in parts])
        etype = np.concatenate([p[1] for p in parts])
        frac = np.concatenate([p[2] for p in parts])
        prod = np.concatenate([p[3] for p in parts])
        n = len(s)
        p0 = np.maximum(prod, 0)
        price = np.where(prod >= 0, self.cat.price_cents[p0, c.country[s]] / 100.0, np.nan)
        is_oc = etype == 3
        oid = np.full(n, -1, dtype=np.int64)
        oid[is_oc] = S.order_id[c.order[s[is_oc]]]
        revenue = np.full(n, np.nan)
        revenue[is_oc] = S.order_total[c.order[s[is_oc]]]
        u = self.urls
        blk = c.country[s] * u.per_country
        list_cat = rng.integers(0, len(CATEGORIES), n)
        page = np.select(
            [prod >= 0, etype == 2, etype == 3, etype == 4],
            [blk + _CAT0 + u.n_cat + p0, blk + _CHECKOUT, blk + _THANKS, blk + _CAT0 + list_cat],
            blk + _HOME,
        )
        category = np.where(prod >= 0, self.cat.category_idx[p0], np.where(etype == 4, list_cat, -1))
        extra = {
            "event": PoolCol(self.ev_pool, etype),
            "event_text": PoolCol(self.ev_text_pool, etype),
            "product_id": PoolCol(self.product_pool, prod),
            "category": PoolCol(self.cat_pool, category),
            "price": price,
            "order_id": oid,
            "revenue": revenue,
        }
        self._emit(rng, "events.tracks", c, s, frac, page, extra, sink, null_event=True)

    # ------------------------------------------------------------------------------------------- pages
    def _pages(self, rng: np.random.Generator, c: _Ctx, sink: Sink) -> None:
        web_js = c.lib == 0  # apps send screens, not pages
        ns = len(c.person)
        buy = c.kind == 1
        lam = np.select(
            [c.kind == 2, c.kind == 1], [2.0, 0.6], 1.4
        )  # purchases add cart/checkout pages below
        n_gen = np.where(web_js, 1 + rng.poisson(lam), 0)
        s = np.repeat(np.arange(ns), n_gen)
        rank = group_rank(s)
        frac = np.where(rank == 0, 0.0, rng.uniform(0.02, 0.7, len(s)))
        u = self.urls
        blk = c.country[s] * u.per_country
        r = rng.random(len(s))
        prod = self._browse_products(rng, c.person[s])
        page = np.select(
            [r < 0.55, r < 0.85, r < 0.9],
            [blk + _CAT0 + u.n_cat + prod, blk + _CAT0 + rng.integers(0, u.n_cat, len(s)), blk + _SEARCH],
            blk + _ACCOUNT,
        )
        page = np.where((rank == 0) & (c.campaign[s] < 0) & (rng.random(len(s)) < 0.4), blk + _HOME, page)
        # fixed pages: cart/checkout/thank-you on purchases, login on sign-in
        fixed_s, fixed_f, fixed_p = [s], [frac], [page]
        pb = np.flatnonzero(buy & web_js)
        for kind_, f in ((_CART, 0.71), (_CHECKOUT, 0.85), (_THANKS, 1.0)):
            fixed_s.append(pb)
            fixed_f.append(np.full(len(pb), f))
            fixed_p.append(c.country[pb] * u.per_country + kind_)
        pl = np.flatnonzero((c.state == 1) & web_js)
        fixed_s.append(pl)
        fixed_f.append(c.id_frac[pl] - 0.005)
        fixed_p.append(c.country[pl] * u.per_country + _LOGIN)
        s, frac, page = np.concatenate(fixed_s), np.concatenate(fixed_f), np.concatenate(fixed_p)
        srt = np.lexsort((frac, s))
        s, frac, page = s[srt], frac[srt], page[srt]
        # referrer: the previous page of the session, or where the visitor came from
        first = np.ones(len(s), dtype=bool)
        first[1:] = s[1:] != s[:-1]
        ext = np.where(rng.random(len(s)) < 0.55, 0, np.where(rng.random(len(s)) < 0.85, 1, 2))
        camp = c.campaign[s]
        first_ref = np.where(camp >= 0, u.ext0 + len(_EXTERNAL) + camp, u.ext0 + ext)
        referrer = np.where(first, first_ref, np.roll(page, 1))
        referrer[first & (c.kind[s] == 2)] = -1
        extra = {
            "path": PoolCol(u.path, page),
            "url": PoolCol(u.url, page),
            "title": PoolCol(u.title, page),
            "referrer": PoolCol(u.referrer, referrer),
        }
        self._emit(rng, "events.pages", c, s, frac, page, extra, sink)

    # ------------------------------------------------------------------------------------------- identifies
    def _identifies(self, rng: np.random.Generator, c: _Ctx, sink: Sink) -> None:
        s = np.flatnonzero(c.id_frac <= 1.0)
        frac = c.id_frac[s]
        person = c.person[s]
        t = c.start[s] + (frac * c.dur[s]).astype(np.int64)
        first, last = names_for(rng, self.P, person, t, IDENTIFY_NOISE)
        no_name = rng.random(len(s)) < 0.4
        first[no_name] = None
        last[no_name] = None
        page = c.country[s] * self.urls.per_country + _LOGIN
        extra = {
            "email": emails_for(rng, self.P, person, IDENTIFY_NOISE),
            "first_name": first,
            "last_name": last,
            "phone": phones_for(rng, self.P, person, IDENTIFY_NOISE),
        }
        self._emit(rng, "events.identifies", c, s, frac, page, extra, sink)

    # ------------------------------------------------------------------------------------------- common
    def _emit(
        self,
        rng: np.random.Generator,
        name: str,
        c: _Ctx,
        s: np.ndarray,
        frac: np.ndarray,
        page: np.ndarray,
        extra: dict[str, Any],
        sink: Sink,
        null_event: bool = False,
    ) -> None:
        """Add the common Segment columns and the delivery noise (duplicates, late, malformed), then write."""
        n = len(s)
        ts = c.start[s] + (frac * c.dur[s]).astype(np.int64)
        lib = c.lib[s]
        sent = ts + np.where(lib > 0, rng.integers(0, 60 * US, n), rng.integers(0, 2 * US, n))
        received = sent + rng.integers(50_000, 1_500_000, n)
        late = np.flatnonzero(rng.random(n) < LATE_RATE)
        received[late] += rng.integers(DAY, 10 * DAY, len(late))
        sent[late] = received[late] - rng.integers(100_000, 900_000, len(late))
        logged = (c.state[s] == 2) | ((c.state[s] == 1) & (frac >= c.id_frac[s]))
        user_id = np.where(logged & (c.cust[s] >= 0), c.cust[s], -1)
        kiosk = c.kiosk[s]
        dev = c.dev[s]
        dev_idx = np.where(kiosk >= 0, self.n_dev + kiosk, dev)
        ua = np.full(n, UA_OFFSET["kiosk"], dtype=np.int64)
        ua[dev >= 0] = self.P.dev_ua[dev[dev >= 0]]
        camp = c.campaign[s]
        ids = uuid_chars(rng, n)
        # malformed rows: client clocks in 1970/2099, missing message id, missing event name
        bad_ts = rng.random(n) < OUT_OF_RANGE_RATE
        y2099 = int(np.datetime64("2099-12-31T23:59:59", "us").astype(np.int64))
        ts_bad = np.where(rng.random(n) < 0.5, rng.integers(0, 3 * DAY, n), y2099 - rng.integers(0, DAY, n))
        timestamp = np.where(bad_ts, ts_bad, ts)
        null_id = rng.random(n) < NULL_ID_RATE
        if null_event:
            ne = rng.random(n) < NULL_EVENT_RATE
            for k in ("event", "event_text"):
                extra[k] = PoolCol(extra[k].pool, np.where(ne, -1, extra[k].idx))
        # duplicate deliveries: the same message (same id) received again later
        dup = np.flatnonzero(rng.random(n) < DUPLICATE_RATE)
        idx = np.concatenate([np.arange(n), dup])
        original = np.arange(len(idx)) < n
        received_all = np.concatenate([received, received[dup] + rng.integers(60 * US, 12 * HOUR, len(dup))])
        keep = received_all <= LOADED["events"]  # not yet delivered at extract time
        srt = np.flatnonzero(keep)[np.argsort(received_all[keep], kind="stable")]
        idx, received_all, original = idx[srt], received_all[srt], original[srt]

        id_arr = fixed_width_to_arrow(ids[idx])
        if null_id.any():
            id_arr = pc.if_else(pa.array(null_id[idx]), pa.scalar(None, pa.string()), id_arr)
        uid = user_id[idx]
        page_url = np.where(lib > 0, -1, page)[idx]
        cols: dict[str, Any] = {
            "id": id_arr,
            "anonymous_id": PoolCol(self.anon_pool, dev_idx[idx]),
            "user_id": pc.cast(pa.array(uid, pa.int64(), mask=uid < 0), pa.string()),
            "context_device_id": PoolCol(self.devid_pool, dev_idx[idx]),
            "context_device_type": PoolCol(self.dtype_pool, c.dtype_[s][idx]),
            "context_library_name": PoolCol(self.lib_pool, lib[idx]),
            "context_ip": PoolCol(self.ip_pool, c.ip[s][idx]),
            "context_user_agent": PoolCol(self.ua_pool, ua[idx]),
            "context_page_url": PoolCol(self.urls.url, page_url),
            "context_campaign_source": PoolCol(self.camp_pools[0], camp[idx]),
            "context_campaign_medium": PoolCol(self.camp_pools[1], camp[idx]),
            "context_campaign_name": PoolCol(self.camp_pools[2], camp[idx]),
            "received_at": received_all,
            "sent_at": sent[idx],
            "timestamp": timestamp[idx],
            "_loaded_at": LOADED["events"],
        }
        for k, v in extra.items():
            v = v[idx]
            if k == "order_id":
                v = pa.array(v, pa.int64(), mask=v < 0)
            elif isinstance(v, np.ndarray) and v.dtype.kind == "f":
                v = pa.array(v, pa.float64(), mask=np.isnan(v))
            cols[k] = v
        sink.write(name, cols, self.P.pid[c.person[s][idx]], truth_rows=original)
