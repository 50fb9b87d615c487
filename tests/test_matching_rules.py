"""The fixed rules around Splink's scores: what counts as a name swap, and when a likely pair may
link on its own (fast: no world is built)."""

from __future__ import annotations

import duckdb
import pytest

from orchestration.identity.matching import independent_evidence, names_compatible, swapped_names_sql


# (first, last, formal first, formal last) per side; formal = the nickname's formal name.
@pytest.mark.parametrize(
    ("left", "right", "swapped"),
    [
        (("olga", "ruman", "olga", "ruman"), ("ruman", "olga", "ruman", "olga"), True),
        (("ruman", None, "ruman", None), ("olga", "ruman", "olga", "ruman"), True),
        (("william", "gates", "william", "gates"), ("gates", "bill", "gates", "william"), True),  # nickname
        (("ruman", "olga", "ruman", "olga"), ("klara", "ruman", "klara", "ruman"), False),  # surname only
        (("klara", "ruman", "klara", "ruman"), ("ruman", "olga", "ruman", "olga"), False),
        (("olga", "ruman", "olga", "ruman"), ("olga", "ruman", "olga", "ruman"), False),  # same order
    ],
)
def test_a_swap_moves_both_names(left: tuple, right: tuple, swapped: bool) -> None:
    con = duckdb.connect()
    row = con.execute(
        f"select coalesce({swapped_names_sql()}, false) from (select"
        " ? as first_name_key_l, ? as last_name_key_l, ? as first_name_formal_l, ? as last_name_formal_l,"
        " ? as first_name_key_r, ? as last_name_key_r, ? as first_name_formal_r, ? as last_name_formal_r)",
        [*left, *right],
    ).fetchall()[0][0]
    assert row is swapped


def test_names_must_agree_and_dates_of_birth_and_phones_must_not_disagree() -> None:
    # Levels: first name 5 exact .. 0 else, -1 null; date of birth 0 = more than a year apart;
    # phone 2 exact, 1 one digit, 0 different, -1 missing.
    gammas = {
        "first_name": [5, 4, 1, 5, 5, 5, 5],
        "date_of_birth": [-1, 4, -1, 0, -1, -1, 3],
        "phone": [-1, 2, -1, -1, 0, 1, 2],
    }
    assert names_compatible(gammas) == [True, True, False, False, False, True, True]


def test_independent_evidence_is_more_than_name_and_email() -> None:
    gammas = {
        "street": [-1, 2, 0, -1, -1],
        "postcode": [-1, 0, 2, -1, -1],
        "phone": [-1, -1, -1, 1, -1],
        "date_of_birth": [-1, -1, -1, -1, 2],
    }
    assert independent_evidence(gammas) == [False, True, True, True, True]
