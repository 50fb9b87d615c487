"""The fixed rules around Splink's scores: what counts as a name swap, and when a likely pair may
link on its own (fast: no world is built)."""

from __future__ import annotations

import datetime as dt

import duckdb
import pytest

from orchestration.identity.matching import (
    dob_typo_sql,
    email_typo_sql,
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
        ("olga.ruman@example.com", "olga.rumna@example.com", True),  # two letters swapped
        ("olga.ruman@example.com", "olga.ruma@example.com", True),  # a letter dropped
        ("olga.ruman1955@example.com", "olga.rumen1955@example.com", True),  # a letter changed
        ("olga1@example.com", "olga2@example.com", False),  # other digits: another person
        ("olga.ruman@example.com", "olga.ruman1@example.com", False),  # a digit added
        ("olga.ruman@example.com", "ruman.olga@example.com", False),  # many edits
        ("olga.ruman@example.com", "olga.ruman.x@example.com", False),  # two letters added
    ],
)
def test_an_email_typo_is_one_edit_with_the_same_digits(left: str, right: str, typo: bool) -> None:
    row = (
        duckdb.connect()
        .execute(f"select {email_typo_sql()} from (select ? as email_l, ? as email_r)", [left, right])
        .fetchall()[0][0]
    )
    assert row is typo


def _one_edit_variants(words: list[str]) -> list[str]:
    """Each word, and a few strings one or two edits from it (changed, dropped, added, swapped letters)."""
    found = set(words)
    for word in words:
        for i in range(len(word) - 1):
            found |= {
                word[:i] + "x" + word[i + 1 :],
                word[:i] + word[i + 1 :],
                word[:i] + "y" + word[i:],
                word[:i] + word[i + 1] + word[i] + word[i + 2 :],
                word[:i] + "zz" + word[i + 2 :],
            }
    return sorted(found)


def _disagreements(
    con: duckdb.DuckDBPyConnection, level_sql: str, distance_sql: str, pairs_sql: str
) -> tuple[int, int]:
    """Over the pairs `pairs_sql` selects: how many the level and the edit-distance definition disagree on,
    and how many the level holds for."""
    return con.execute(
        f"""select count(*) filter (where level is distinct from by_distance), count(*) filter (where level)
        from (
            select coalesce({level_sql}, false) as level, coalesce({distance_sql}, false) as by_distance
            from ({pairs_sql})
        )"""
    ).fetchall()[0]


def test_the_typo_levels_hold_for_exactly_the_pairs_their_edit_distance_allows() -> None:
    """The length tests in front of the edit distance (email_typo_sql, swapped_with_a_typo_sql) only
    spare work: over every pair of many near and far strings, each level holds for exactly the pairs
    that its edit distance, computed for all of them, allows."""
    emails = _one_edit_variants(["olga.ruman@ex.com", "o.ruman7@ex.com", "olga17@ex.org", "klara@ex.com"])
    names = _one_edit_variants(["olga", "ruman", "isla", "coates", "ola", "rumann"])
    con = duckdb.connect()
    con.execute("create table e as select unnest(?) as email", [emails])
    con.execute(
        "create table n as select unnest(?) as first_name_key, unnest(?) as last_name_key",
        [names, names[::-1]],
    )
    differ, held = _disagreements(
        con,
        email_typo_sql(),
        "damerau_levenshtein(email_l, email_r) <= 1"
        " and regexp_replace(email_l, '[^0-9]', '', 'g') = regexp_replace(email_r, '[^0-9]', '', 'g')",
        "select l.email as email_l, r.email as email_r from e as l cross join e as r",
    )
    assert differ == 0, f"{differ} pairs where the email level and the edit distance disagree"
    assert held > 0
    differ, held = _disagreements(
        con,
        swapped_with_a_typo_sql(),
        "damerau_levenshtein(first_name_key_l, last_name_key_r) <= 1"
        " and damerau_levenshtein(last_name_key_l, first_name_key_r) <= 1",
        "select l.first_name_key as first_name_key_l, l.last_name_key as last_name_key_l,"
        " r.first_name_key as first_name_key_r, r.last_name_key as last_name_key_r from n as l cross join n as r",
    )
    assert differ == 0, f"{differ} pairs where the swapped-with-a-typo level and the edit distance disagree"
    assert held > 0


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
