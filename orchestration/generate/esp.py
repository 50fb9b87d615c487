"""esp.email_events: newsletter sends and engagement for people with email-marketing consent."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ._util import HORIZON, HOUR, NEVER, START, US, hex_array, obj, where_or_none
from .people import Noise, People, emails_for
from .sink import Sink
from .sources import LOADED
from .world import COUNTRIES, Campaign

ESP_NOISE = Noise(
    email_second=0.15,
    email_family=0.3,
    email_typo=0.015,
    email_plus=0.03,
    email_case=0.0,
    email_space=0.0,
    email_junk=0.004,
)
TARGETING = 0.04  # probability that a subscriber is in a given weekly campaign's audience


def mailbox(e: object) -> str:
    """Normalised mailbox (what the mail server would deliver to): trimmed, lower case, no +tag/gmail dots."""
    if not isinstance(e, str):
        return ""
    s = e.strip().lower()
    local, _, domain = s.partition("@")
    local = local.split("+", 1)[0]
    if domain in ("gmail.com", "googlemail.com"):
        local = local.replace(".", "")
        domain = "gmail.com"
    return f"{local}@{domain}"


@dataclass
class Unsubscribes:
    person: np.ndarray
    t: np.ndarray
    email: np.ndarray


class EspGenerator:
    def __init__(self, P: People, campaigns: list[Campaign]) -> None:
        self.P = P
        self.c_t: list[np.ndarray] = []
        self.c_idx: list[np.ndarray] = []
        for ci in range(len(COUNTRIES)):
            ks = [k for k, c in enumerate(campaigns) if c.country == ci]
            self.c_t.append(np.array([campaigns[k].sent_at for k in ks], dtype=np.int64))
            self.c_idx.append(np.array(ks, dtype=np.int64))
        self.all_t = np.array([c.sent_at for c in campaigns], dtype=np.int64)
        self.c_id = obj([c.campaign_id for c in campaigns])
        self.c_name = obj([c.name for c in campaigns])
        self.c_url = obj([c.url for c in campaigns])

    def chunk(self, rng: np.random.Generator, a: int, b: int, sink: Sink) -> Unsubscribes:
        P = self.P
        sub = a + np.flatnonzero((P.mkt_grant_t[a:b] < NEVER) & (P.in_shop[a:b] | P.in_crm[a:b]))
        lo = np.maximum(P.mkt_grant_t[sub], START)
        hi = np.minimum(P.mkt_withdraw_t[sub], HORIZON)
        email = emails_for(rng, P, sub, ESP_NOISE)
        deliverable = np.array(
            [
                mailbox(e) in (mailbox(x), mailbox(y), mailbox(z)) and "@" in mailbox(e)
                for e, x, y, z in zip(email, P.email1[sub], P.email2[sub], P.family_email[sub], strict=True)
            ],
            dtype=bool,
        )
        s_list, k_list = [], []
        for ci in range(len(COUNTRIES)):
            m = np.flatnonzero(P.country[sub] == ci)
            ct = self.c_t[ci]
            k_lo = np.searchsorted(ct, lo[m])
            k_hi = np.searchsorted(ct, hi[m])
            elig = np.maximum(k_hi - k_lo, 0)
            n_send = rng.binomial(elig, TARGETING * (0.5 + P.engagement[sub[m]]))
            s_rel = np.repeat(np.arange(len(m)), n_send)
            k = k_lo[s_rel] + (rng.random(len(s_rel)) * elig[s_rel]).astype(np.int64)
            s_list.append(m[s_rel])
            k_list.append(self.c_idx[ci][k])
        s = np.concatenate(s_list)
        k = np.concatenate(k_list)
        # one send per (subscriber, campaign)
        _, first = np.unique(s.astype(np.int64) * 1_000_000 + k, return_index=True)
        s, k = s[first], k[first]
        send_t = self.all_t[k] + rng.integers(0, 2 * HOUR, len(s))
        # undeliverable addresses bounce once and are then suppressed
        order = np.lexsort((send_t, s))
        s, k, send_t = s[order], k[order], send_t[order]
        firsts = np.ones(len(s), dtype=bool)
        firsts[1:] = s[1:] != s[:-1]
        bad = ~deliverable[s]
        keep = ~bad | firsts
        s, k, send_t = s[keep], k[keep], send_t[keep]
        bounced = (~deliverable[s]) | (rng.random(len(s)) < 0.004)
        person = sub[s]
        churned = send_t > P.churn_t[person]
        p_open = np.where(churned, 0.15, 1.0) * P.engagement[person]
        opened = ~bounced & (rng.random(len(s)) < p_open)
        open_t = send_t + rng.exponential(8 * HOUR, len(s)).astype(np.int64)
        clicked = opened & (rng.random(len(s)) < 0.3)
        click_t = open_t + rng.integers(5 * US, 30 * 60 * US, len(s))
        unsub = opened & (rng.random(len(s)) < np.where(churned, 0.03, 0.006))
        unsub_t = open_t + rng.integers(10 * US, 10 * 60 * US, len(s))
        first_unsub = np.full(len(sub), NEVER, dtype=np.int64)
        np.minimum.at(first_unsub, s[unsub], unsub_t[unsub])
        keep = send_t <= first_unsub[s]
        unsub &= unsub_t == first_unsub[s]

        parts = [
            (keep, send_t, 0),
            (keep & opened, open_t, 1),
            (keep & clicked, click_t, 2),
            (keep & unsub, unsub_t, 3),
            (keep & bounced, send_t + rng.integers(US, 60 * US, len(s)), 4),
        ]
        rows = np.concatenate([np.flatnonzero(m) for m, _, _ in parts])
        t = np.concatenate([tt[m] for m, tt, _ in parts])
        etype = np.concatenate([np.full(int(m.sum()), e) for m, _, e in parts])
        ok = t <= LOADED["esp"]
        rows, t, etype = rows[ok], t[ok], etype[ok]
        order = np.argsort(t, kind="stable")
        rows, t, etype = rows[order], t[order], etype[order]
        n = len(rows)
        sink.write(
            "esp.email_events",
            {
                "event_id": hex_array(rng, n, 12, prefix="ev_"),
                "email": email[s[rows]],
                "campaign_id": self.c_id[k[rows]],
                "campaign_name": self.c_name[k[rows]],
                "event_type": obj(["send", "open", "click", "unsubscribe", "bounce"])[etype],
                "url": where_or_none(etype == 2, self.c_url[k[rows]]),
                "occurred_at": t,
                "_loaded_at": LOADED["esp"],
            },
            P.pid[person[rows]],
        )
        u = rows[etype == 3]
        return Unsubscribes(person[u], unsub_t[u], email[s[u]])
