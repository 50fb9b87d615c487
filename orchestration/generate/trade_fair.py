"""The demo's person source added by configuration: a trade-fair visitor list (CSV) and its declaration.

Most visitors are people of the demo world, written the way a badge scanner and a sign-up sheet
write them (email typos, national phone formats, day-first dates of birth); some are new people.
A few rows are planted to be unusable (no visitor number, a repeated one, an impossible date, a
broken email or phone, a junk row, a line with too many fields), so the quarantine has something
to show. `out/person_sources.yml` declares the file exactly as a user would (docs/person_sources.md).
"""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np

from ._util import END, HOUR
from .people import Noise, People, addresses_for, emails_for, names_for, phones_for
from .sink import Sink
from .world import COUNTRIES, ascii_fold

FILE = Path("sources") / "trade_fair" / "visitors_2026.csv"
COLUMNS = [
    "Visitor No",
    "First Name",
    "Surname",
    "E-mail",
    "Mobile",
    "Date of Birth",
    "Postcode",
    "Country",
    "Scanned At",
]
# Written by hand at a fair stand: more typos than a web form, and many visitors skip the phone.
_NOISE = Noise(
    email_second=0.2,
    email_family=0.0,
    email_typo=0.08,
    email_case=0.15,
    email_space=0.05,
    email_junk=0.0,
    email_null=0.1,
    phone_junk=0.0,
    phone_null=0.45,
)
FAIR_DAY = END - 230 * 24 * HOUR  # mid-March 2026

DECLARATION = """\
# Written by `tessera generate`: the demo's trade-fair visitor list, declared the way a user
# declares any person source (see docs/person_sources.md). Your own sources go in
# sources/person_sources.yml.
person_sources:
  - name: trade_fair
    description: Visitors scanned at our stand, spring fair 2026 (CSV from the badge scanner).
    file: {file}
    record_id: Visitor No
    fields:
      first_name: First Name
      last_name: Surname
      email: E-mail
      phone: Mobile
      date_of_birth: Date of Birth
      postcode: Postcode
      country: Country
    observed_at: Scanned At
    date_format: DD/MM/YYYY
    default_country: GB
"""


def _visitor_no(k: int) -> str:
    return f"TF26-{k:05d}"


def write_trade_fair(rng: np.random.Generator, P: People, out: Path, sink: Sink | None = None) -> int:
    """Write the visitor list and its declaration into `out`; returns the number of data rows.

    With a sink, each usable row's person goes into the planted truth (source trade_fair, table
    visitors_2026): a known visitor's person id, or a new id after the world's for a new person.
    Rows the sheet spoils on purpose get none: no visitor number, a number scanned twice (the second
    row), the scanner test row and the line with too many fields. An empty world (no persons) had no
    visitors: the sheet is its header alone."""
    path = out / FILE
    path.parent.mkdir(parents=True, exist_ok=True)
    (out / "person_sources.yml").write_text(DECLARATION.format(file=FILE.as_posix()))
    if not P.n:
        with open(path, "w", newline="") as handle:
            csv.writer(handle).writerow(COLUMNS)
        return 0
    n_rows = max(200, P.n // 40)
    n_known = int(n_rows * 0.8)
    known = np.sort(rng.choice(P.n, size=min(n_known, P.n), replace=False))
    # Three fair days, 9:00 to 18:00.
    scanned = (
        FAIR_DAY
        + rng.integers(0, 3, len(known)) * 24 * HOUR
        + 9 * HOUR
        + rng.integers(0, 9 * HOUR, len(known))
    )
    first, last = names_for(rng, P, known, scanned, _NOISE)
    email = emails_for(rng, P, known, _NOISE)
    phone = phones_for(rng, P, known, _NOISE)
    _street, _city, postcode, _region, country = addresses_for(rng, P, known, scanned, _NOISE)
    dob = P.dob[known]
    rows: list[list[str]] = []
    for i in range(len(known)):
        day = str(dob[i].astype("datetime64[D]"))  # YYYY-MM-DD
        rows.append(
            [
                first[i],
                last[i],
                email[i] or "",
                phone[i] or "",
                f"{day[8:10]}/{day[5:7]}/{day[0:4]}" if rng.random() < 0.7 else "",
                postcode[i] or "",
                country[i] if rng.random() < 0.6 else "",
                _stamp(int(scanned[i])),
            ]
        )
    # New people: a first name and a surname of two different people, with an address of their own.
    n_new = n_rows - len(rows)
    a, b = rng.choice(P.n, size=n_new), rng.choice(P.n, size=n_new)
    new_first = P.first[a].copy()
    new_last = P.last[b].copy()
    for k in range(n_new):
        local = f"{ascii_fold(new_first[k]).lower()}.{ascii_fold(new_last[k]).lower()}{k}"
        domain = COUNTRIES[int(P.country[b[k]])].domains[0]
        rows.append(
            [
                new_first[k],
                new_last[k],
                f"{local}@{domain}",
                "",
                "",
                P.postcode[b[k]] or "",
                COUNTRIES[int(P.country[b[k]])].code,
                _stamp(int(FAIR_DAY + 10 * HOUR + k * 60_000_000)),
            ]
        )
    order = rng.permutation(len(rows))
    rows = [rows[i] for i in order]
    lines = [[_visitor_no(k + 1), *row] for k, row in enumerate(rows)]
    persons = np.concatenate([P.pid[known], int(P.pid.max()) + 1 + np.arange(n_new)])[order]
    _plant_unusable_rows(lines)
    if sink is not None:
        spoiled = set(_SPOILED_LINES)
        usable = [k for k, line in enumerate(lines) if line[0] and k not in spoiled]
        sink.truth("trade_fair", FILE.stem, [lines[k][0] for k in usable], [int(persons[k]) for k in usable])
    with open(path, "w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(COLUMNS)
        writer.writerows(lines[:-1])
        # A line with more fields than the header (a stray comma in an address): kept for quarantine.
        handle.write("TF26-99999,Ola,Nowak,ola.nowak@wp.pl,,01/01/1990,00-950,PL,2026-03-14 11:00,extra\r\n")
        writer.writerow(lines[-1])
    return len(lines) + 1


# Lines that no longer describe their person: a repeated visitor number, the scanner test.
_SPOILED_LINES = (7, 27)


def _plant_unusable_rows(lines: list[list[str]]) -> None:
    """Overwrite a few rows (fixed positions, so the quarantine counts are the same every time)."""
    lines[3][0] = ""  # no visitor number
    lines[7][0] = lines[6][0]  # a visitor number scanned twice (the second row is quarantined)
    lines[11][5] = "31/02/1987"  # no such day
    lines[15][5] = "1987-05-12"  # not the declared day-first format
    lines[19][3] = lines[19][3].replace("@", "(at)") if lines[19][3] else "someone(at)mail.com"
    lines[23][4] = "12345"  # not a phone number
    lines[27][1:5] = ["test", "", "test@test.com", ""]  # a stand colleague testing the scanner


def _stamp(us: int) -> str:
    return str(np.datetime64(us, "us").astype("datetime64[m]")).replace("T", " ")
