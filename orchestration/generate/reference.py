"""reference.public_holidays and reference.weather_daily (contextual data, not person data)."""

from __future__ import annotations

import datetime as dt

import numpy as np

from ._util import DAY, END, START, obj
from .sink import Sink
from .sources import LOADED
from .world import COUNTRIES, REGIONS

YEARS = (2024, 2025, 2026)


def easter(year: int) -> dt.date:
    """Gregorian Easter Sunday (anonymous Gregorian algorithm)."""
    a, b, c = year % 19, year // 100, year % 100
    d, e = b // 4, b % 4
    f = (b + 8) // 25
    g = (b - f + 1) // 3
    h = (19 * a + b - d - g + 15) % 30
    i, k = c // 4, c % 4
    lx = (32 + 2 * e + 2 * i - h - k) % 7
    m = (a + 11 * h + 22 * lx) // 451
    month = (h + lx - 7 * m + 114) // 31
    day = ((h + lx - 7 * m + 114) % 31) + 1
    return dt.date(year, month, day)


def _nth_weekday(year: int, month: int, weekday: int, n: int) -> dt.date:
    """n-th (1-based; -1 = last) given weekday (Mon=0) of a month."""
    if n > 0:
        d = dt.date(year, month, 1)
        d += dt.timedelta(days=(weekday - d.weekday()) % 7)
        return d + dt.timedelta(weeks=n - 1)
    d = dt.date(year + (month == 12), month % 12 + 1, 1) - dt.timedelta(days=1)
    return d - dt.timedelta(days=(d.weekday() - weekday) % 7)


def _gb_substitutes(days: list[tuple[dt.date, str]]) -> list[tuple[dt.date, str]]:
    """UK rule: a bank holiday on a weekend moves to the next free weekday."""
    taken = {d for d, _ in days}
    out = []
    for d, name in sorted(days):
        if d.weekday() >= 5:
            nd = d
            while nd.weekday() >= 5 or nd in taken:
                nd += dt.timedelta(days=1)
            taken.add(nd)
            out.append((nd, f"{name} (substitute day)"))
        else:
            out.append((d, name))
    return out


def holidays() -> list[tuple[dt.date, str, str | None, str]]:
    """(date, country, region or None for national, name)."""
    rows: list[tuple[dt.date, str, str | None, str]] = []
    for y in YEARS:
        e = easter(y)
        # GB: national = all of the UK; England-only and Scotland-only days per region.
        rows += [
            (d, "GB", None, n)
            for d, n in _gb_substitutes(
                [
                    (dt.date(y, 1, 1), "New Year's Day"),
                    (dt.date(y, 12, 25), "Christmas Day"),
                    (dt.date(y, 12, 26), "Boxing Day"),
                ]
            )
        ]
        rows += [
            (e - dt.timedelta(days=2), "GB", None, "Good Friday"),
            (_nth_weekday(y, 5, 0, 1), "GB", None, "Early May bank holiday"),
            (_nth_weekday(y, 5, 0, -1), "GB", None, "Spring bank holiday"),
        ]
        for region in ("London", "North West"):
            rows += [
                (e + dt.timedelta(days=1), "GB", region, "Easter Monday"),
                (_nth_weekday(y, 8, 0, -1), "GB", region, "Summer bank holiday"),
            ]
        rows += [
            (d, "GB", "Scotland", n)
            for d, n in _gb_substitutes(
                [(dt.date(y, 1, 2), "2nd January"), (dt.date(y, 11, 30), "St Andrew's Day")]
            )
        ]
        rows += [(_nth_weekday(y, 8, 0, 1), "GB", "Scotland", "Summer bank holiday")]
        # PL
        pl = [
            (dt.date(y, 1, 1), "Nowy Rok"),
            (dt.date(y, 1, 6), "Święto Trzech Króli"),
            (e, "Wielkanoc"),
            (e + dt.timedelta(days=1), "Poniedziałek Wielkanocny"),
            (dt.date(y, 5, 1), "Święto Pracy"),
            (dt.date(y, 5, 3), "Święto Konstytucji 3 Maja"),
            (e + dt.timedelta(days=49), "Zielone Świątki"),
            (e + dt.timedelta(days=60), "Boże Ciało"),
            (dt.date(y, 8, 15), "Wniebowzięcie Najświętszej Maryi Panny"),
            (dt.date(y, 11, 1), "Wszystkich Świętych"),
            (dt.date(y, 11, 11), "Narodowe Święto Niepodległości"),
            (dt.date(y, 12, 25), "Boże Narodzenie"),
            (dt.date(y, 12, 26), "Drugi dzień Bożego Narodzenia"),
        ]
        if y >= 2025:
            pl.append((dt.date(y, 12, 24), "Wigilia Bożego Narodzenia"))
        rows += [(d, "PL", None, n) for d, n in pl]
        # DE
        de = [
            (dt.date(y, 1, 1), "Neujahr"),
            (e - dt.timedelta(days=2), "Karfreitag"),
            (e + dt.timedelta(days=1), "Ostermontag"),
            (dt.date(y, 5, 1), "Tag der Arbeit"),
            (e + dt.timedelta(days=39), "Christi Himmelfahrt"),
            (e + dt.timedelta(days=50), "Pfingstmontag"),
            (dt.date(y, 10, 3), "Tag der Deutschen Einheit"),
            (dt.date(y, 12, 25), "1. Weihnachtstag"),
            (dt.date(y, 12, 26), "2. Weihnachtstag"),
        ]
        rows += [(d, "DE", None, n) for d, n in de]
        rows += [
            (dt.date(y, 1, 6), "DE", "Bayern", "Heilige Drei Könige"),
            (e + dt.timedelta(days=60), "DE", "Bayern", "Fronleichnam"),
            (dt.date(y, 8, 15), "DE", "Bayern", "Mariä Himmelfahrt"),
            (dt.date(y, 11, 1), "DE", "Bayern", "Allerheiligen"),
            (dt.date(y, 3, 8), "DE", "Berlin", "Internationaler Frauentag"),
        ]
    rows.sort(key=lambda r: (r[0], r[1], r[2] or "", r[3]))
    return rows


def write_reference(rng: np.random.Generator, sink: Sink) -> tuple[np.ndarray, np.ndarray]:
    """Writes both reference tables; returns (rainy, closed) booleans indexed [region, day since START]."""
    hol = holidays()
    sink.write(
        "reference.public_holidays",
        {
            "holiday_date": np.array([np.datetime64(d, "D") for d, *_ in hol]).astype("datetime64[D]"),
            "country": obj([r[1] for r in hol]),
            "region": obj([r[2] for r in hol]),
            "holiday_name": obj([r[3] for r in hol]),
            "_loaded_at": LOADED["reference"],
        },
    )
    n_days = (END - START) // DAY
    days = np.arange(n_days)
    dates = (np.datetime64("2024-01-01") + days).astype("datetime64[D]")
    doy = (dates - dates.astype("datetime64[Y]")).astype(np.int64)
    rows_date, rows_region, temp, precip, cond = [], [], [], [], []
    rainy = np.zeros((len(REGIONS), n_days), dtype=bool)
    closed = np.zeros((len(REGIONS), n_days), dtype=bool)
    for ri, r in enumerate(REGIONS):
        seasonal = r.temp_mean - r.temp_amp * np.cos(2 * np.pi * (doy - 15) / 365.25)
        noise = np.zeros(n_days)
        eps = rng.normal(0, 2.2, n_days)
        for i in range(1, n_days):  # AR(1) weather fronts
            noise[i] = 0.7 * noise[i - 1] + eps[i]
        t = np.round(seasonal + noise, 1)
        wet = rng.random(n_days) < r.rain_p
        p = np.where(wet, np.round(rng.gamma(0.9, 4.5, n_days), 1), 0.0)
        c = np.where(
            p >= 0.2,
            np.where(t < 1.0, "snow", "rain"),
            np.where(rng.random(n_days) < 0.55, "cloudy", "sunny"),
        ).astype(object)
        rows_date.append(dates)
        rows_region.append(np.full(n_days, r.name, dtype=object))
        temp.append(t)
        precip.append(p)
        cond.append(c)
        rainy[ri] = p > 5.0
        country = COUNTRIES[r.country].code
        for d, hc, hr, _ in hol:
            if (
                hc == country
                and (hr is None or hr == r.name)
                and (d.month, d.day) in ((12, 25), (12, 26), (1, 1))
            ):
                k = (np.datetime64(d, "D") - np.datetime64("2024-01-01")).astype(np.int64)
                if 0 <= k < n_days:
                    closed[ri, k] = True
    sink.write(
        "reference.weather_daily",
        {
            "weather_date": np.concatenate(rows_date),
            "region": np.concatenate(rows_region),
            "temperature_c": np.concatenate(temp),
            "precipitation_mm": np.concatenate(precip),
            "condition": np.concatenate(cond),
            "_loaded_at": LOADED["reference"],
        },
    )
    return rainy, closed
