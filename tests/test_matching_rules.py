"""The fixed rules around Splink's scores: what counts as a name swap, and when a likely pair may
link on its own (fast: no world is built)."""

from __future__ import annotations

import datetime as dt

import duckdb
import pytest

from orchestration.identity.matching import (
    dob_typo_sql,
    independent_evidence,
    names_compatible,
    swapped_names_sql,
    swapped_with_a_typo_sql,
)


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


@pytest.mark.parametrize(
    ("left", "right", "swapped"),
    [
        (("madelnie", "conaghty"), ("conaghty", "madeline"), True),
        (("jacob", "shepherdson"), ("shephsrdson", "jacob"), True),
        (("isla", "coates"), ("coates", "isra"), True),
        (("isla", "coates"), ("coates", "iris"), False),  # two edits: another name
        (("ruman", "olga"), ("klara", "ruman"), False),  # a shared surname only
        (("ruman", None), ("olga", "ruman"), False),  # one name: the exact swap's business
        (("olga", "ruman"), ("olga", "ruman"), False),
    ],
)
def test_a_swap_with_a_typo_needs_both_names_close(left: tuple, right: tuple, swapped: bool) -> None:
    row = (
        duckdb.connect()
        .execute(
            f"select coalesce({swapped_with_a_typo_sql()}, false) from (select ? as first_name_key_l,"
            " ? as last_name_key_l, ? as first_name_key_r, ? as last_name_key_r)",
            [*left, *right],
        )
        .fetchall()[0][0]
    )
    assert row is swapped


@pytest.mark.parametrize(
    ("left", "right", "typo"),
    [
        ("1955-11-03", "1955-11-08", True),  # a digit
        ("1945-06-21", "1954-06-21", True),  # two digits of the year swapped: nine years, yet a typo
        ("1955-11-03", "1955-03-11", True),  # day and month swapped
        ("1955-11-03", "1985-11-03", True),  # a digit of the year
        ("1955-11-03", "1956-12-14", False),  # three digits
        ("1955-11-03", "1982-07-19", False),  # another date
        ("1955-11-03", "1956-03-11", False),  # day and month swapped, in another year
    ],
)
def test_a_date_of_birth_typo_is_one_digit_two_swapped_digits_or_day_and_month_swapped(
    left: str, right: str, typo: bool
) -> None:
    row = (
        duckdb.connect()
        .execute(
            f"select {dob_typo_sql()} from (select ?::date as date_of_birth_l, ?::date as date_of_birth_r)",
            [dt.date.fromisoformat(left), dt.date.fromisoformat(right)],
        )
        .fetchall()[0][0]
    )
    assert row is typo


def test_names_must_agree_and_dates_of_birth_and_phones_must_not_disagree() -> None:
    # Levels: first name 6 exact .. 2 close typo, 1 and 0 other names, -1 null; date of birth 5 exact,
    # 4 a typo, 3 a month, 2 a year, 1 less than a generation, 0 a generation apart; phone 2 exact,
    # 1 one digit, 0 different, -1 missing.
    gammas = {
        "first_name": [5, 4, 1, 5, 5, 5, 5, 0, 5],
        "date_of_birth": [-1, 5, -1, 0, -1, -1, 4, 4, 1],
        "phone": [-1, 2, -1, -1, 0, 1, 2, -1, -1],
    }
    assert names_compatible(gammas) == [True, True, False, False, False, True, True, True, True]


def test_a_household_and_a_parent_and_child_are_refused_but_a_date_of_birth_typo_is_not() -> None:
    """The three patterns the guard tells apart, from the levels Splink gives them: a household (other
    first names, dates of birth years apart), a parent and a child of one name (dates of birth a
    generation apart), and one person whose date of birth has a typo (a digit, or day and month
    swapped), or is off by some years but less than a generation."""
    household = {"first_name": [0], "date_of_birth": [1], "phone": [-1]}
    parent_and_child = {"first_name": [5], "date_of_birth": [0], "phone": [-1]}
    typo = {"first_name": [5], "date_of_birth": [4], "phone": [-1]}
    typo_and_other_first_name = {
        "first_name": [0],
        "date_of_birth": [4],
        "phone": [-1],
    }  # twins, a replaced name
    years_off = {"first_name": [5], "date_of_birth": [1], "phone": [-1]}
    assert names_compatible(household) == [False]
    assert names_compatible(parent_and_child) == [False]
    assert names_compatible(typo) == [True]
    assert names_compatible(typo_and_other_first_name) == [True]
    assert names_compatible(years_off) == [True]


def test_independent_evidence_is_more_than_name_and_email() -> None:
    # street 2 exact, 1 a typo; postcode 2 exact, 1 a typo; date of birth 3 within a month.
    gammas = {
        "street": [-1, 2, 0, -1, -1, 1, -1, -1],
        "postcode": [-1, 0, 2, -1, -1, -1, 1, -1],
        "phone": [-1, -1, -1, 1, -1, -1, -1, -1],
        "date_of_birth": [-1, -1, -1, -1, 3, -1, -1, 2],
    }
    assert independent_evidence(gammas) == [False, True, True, True, True, True, False, False]
