"""consent.consent_events: a per-person consent history with grants, denials, withdrawals and conflicts."""

from __future__ import annotations

import numpy as np

from ._util import DAY, HORIZON, NEVER, START, hex_array, is_set
from .esp import Unsubscribes
from .people import Noise, People, emails_for, phones_for
from .sink import Sink
from .sources import LOADED, ShopState

CONSENT_NOISE = Noise(
    email_second=0.1,
    email_family=0.2,
    email_typo=0.005,
    email_case=0.02,
    email_space=0.005,
    email_junk=0.003,
    phone_formats=(0.3, 0.3, 0.25, 0.1, 0.05),
    phone_null=0.0,
    phone_junk=0.003,
)


class _Rows:
    def __init__(self) -> None:
        self.cols: dict[str, list[np.ndarray]] = {
            k: []
            for k in (
                "person",
                "subject_type",
                "subject_value",
                "purpose",
                "channel",
                "status",
                "t",
                "source",
            )
        }

    def add(
        self,
        person: np.ndarray,
        subject_type: str,
        subject_value: np.ndarray,
        purpose: str | np.ndarray,
        channel: str | np.ndarray,
        status: np.ndarray,
        t: np.ndarray,
        source: str,
    ) -> None:
        n = len(person)

        def full(v: str | np.ndarray) -> np.ndarray:
            return np.full(n, v, dtype=object) if isinstance(v, str) else v.astype(object)

        for k, v in (
            ("person", person),
            ("subject_type", full(subject_type)),
            ("subject_value", subject_value),
            ("purpose", full(purpose)),
            ("channel", full(channel)),
            ("status", full(status)),
            ("t", t),
            ("source", full(source)),
        ):
            self.cols[k].append(v)

    def get(self, k: str) -> np.ndarray:
        return np.concatenate(self.cols[k])


def write_consent(
    rng: np.random.Generator,
    P: People,
    S: ShopState,
    crm_id: np.ndarray,
    crm_created: np.ndarray,
    unsubs: list[Unsubscribes],
    sink: Sink,
) -> None:
    R = _Rows()
    granted = P.mkt_grant_t < NEVER
    status = np.where(granted, "granted", "denied").astype(object)

    # 1. email marketing opt-in/out at checkout / account sign-up (shop customers)
    shop = np.flatnonzero(S.customer_id >= 0)
    t = np.where(
        granted[shop], np.maximum(P.mkt_grant_t[shop], S.customer_created[shop]), S.customer_created[shop]
    )
    by_id = rng.random(len(shop)) < 0.5
    R.add(
        shop[by_id],
        "shop_customer_id",
        S.customer_id[shop[by_id]].astype(str).astype(object),
        "email_marketing",
        "web",
        status[shop[by_id]],
        t[by_id],
        "checkout",
    )
    R.add(
        shop[~by_id],
        "email",
        emails_for(rng, P, shop[~by_id], CONSENT_NOISE),
        "email_marketing",
        "web",
        status[shop[~by_id]],
        t[~by_id],
        "checkout",
    )

    # 2. CRM import of the marketing flag: the state as of the contact's creation (conflicts when it predates
    #    a later grant or withdrawal)
    crm = np.flatnonzero(is_set(crm_id) & (crm_created < NEVER))
    ct = crm_created[crm]
    st = np.where((P.mkt_grant_t[crm] <= ct + 20 * DAY) & (P.mkt_withdraw_t[crm] > ct), "granted", "denied")
    R.add(crm, "crm_contact_id", crm_id[crm], "email_marketing", "crm", st, ct, "crm_import")

    # 3. cookie banner (analytics, ads personalisation) for signed-in web/app users, re-asked ~yearly
    web = np.flatnonzero(P.tracked & (S.customer_id >= 0))
    lib = P.dev_lib[P.dev_first[web]]
    channel = np.where(lib == 0, "web", "app").astype(object)
    for purpose, p_yes in (("analytics", 0.72), ("ads_personalisation", 0.5)):
        t0 = np.maximum(S.customer_created[web], START) + rng.integers(0, 5 * DAY, len(web))
        yes = rng.random(len(web)) < p_yes
        R.add(
            web,
            "shop_customer_id",
            S.customer_id[web].astype(str).astype(object),
            purpose,
            channel,
            np.where(yes, "granted", "denied"),
            t0,
            "cookie_banner",
        )
        again = np.flatnonzero((rng.random(len(web)) < 0.35) & (t0 + 365 * DAY < HORIZON))
        flip = rng.random(len(again)) < 0.25
        R.add(
            web[again],
            "shop_customer_id",
            S.customer_id[web[again]].astype(str).astype(object),
            purpose,
            channel[again],
            np.where(yes[again] ^ flip, "granted", "denied"),
            t0[again] + 365 * DAY,
            "cookie_banner",
        )

    # 4. SMS marketing at loyalty sign-up in store (subject: the phone number as typed at the till)
    loy = np.flatnonzero(P.loyalty)
    lt = P.loyalty_t[loy]
    sms = rng.random(len(loy)) < 0.45
    R.add(
        loy,
        "phone",
        phones_for(rng, P, loy, CONSENT_NOISE),
        "sms_marketing",
        "store",
        np.where(sms, "granted", "denied"),
        np.minimum(lt, HORIZON),
        "store_signup",
    )
    w = np.flatnonzero(sms & (rng.random(len(loy)) < 0.12))
    wt = lt[w] + (rng.random(len(w)) * np.maximum(HORIZON - lt[w], 0)).astype(np.int64)
    R.add(
        loy[w],
        "phone",
        phones_for(rng, P, loy[w], CONSENT_NOISE),
        "sms_marketing",
        "web",
        np.full(len(w), "withdrawn"),
        wt,
        "preference_center",
    )

    # 5. email-marketing withdrawals in the preference centre, and ESP unsubscribes
    wd = np.flatnonzero(P.mkt_withdraw_t < NEVER)
    R.add(
        wd,
        "email",
        emails_for(rng, P, wd, CONSENT_NOISE),
        "email_marketing",
        "email",
        np.full(len(wd), "withdrawn"),
        P.mkt_withdraw_t[wd],
        "preference_center",
    )
    for u in unsubs:
        R.add(
            u.person,
            "email",
            u.email,
            "email_marketing",
            "email",
            np.full(len(u.person), "withdrawn"),
            u.t,
            "preference_center",
        )

    # 6. conflicting sources: a stale CRM import re-grants consent after the person withdrew it
    stale = np.flatnonzero((P.mkt_withdraw_t < NEVER) & is_set(crm_id) & (rng.random(P.n) < 0.15))
    st_t = P.mkt_withdraw_t[stale] + rng.integers(DAY, 90 * DAY, len(stale))
    ok = st_t < HORIZON
    R.add(
        stale[ok],
        "crm_contact_id",
        crm_id[stale[ok]],
        "email_marketing",
        "crm",
        np.full(int(ok.sum()), "granted"),
        st_t[ok],
        "crm_import",
    )

    person = R.get("person")
    t = R.get("t")
    order = np.lexsort((person, t))
    person, t = person[order], t[order]
    n = len(person)
    sink.write(
        "consent.consent_events",
        {
            "consent_event_id": hex_array(rng, n, 10, prefix="ce_"),
            "subject_type": R.get("subject_type")[order],
            "subject_value": R.get("subject_value")[order],
            "purpose": R.get("purpose")[order],
            "channel": R.get("channel")[order],
            "status": R.get("status")[order],
            "occurred_at": t,
            "source": R.get("source")[order],
            "_loaded_at": LOADED["consent"],
        },
        P.pid[person],
    )
