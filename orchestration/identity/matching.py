"""Probabilistic identity matching: a Fellegi-Sunter model (Splink on DuckDB), trained apart from the build.

A trained model is kept (identity_match_model_store, versioned) and later builds only score with it
until it is due for a retrain (`retrain_reason`: none kept yet, a forced retrain or full refresh,
other comparison columns, a new source, the person records drifted past a share, or the model is too
old); docs/identity.md, "When models are retrained".

The dbt Python models in models/identity/probabilistic/duckdb/ call `train_or_reuse` and
`score_candidates` (the comparison vectors of the pairs a build compares: those of new or changed
records, or all; int_identity__match_pairs weighs every pair in SQL, as Splink's `predict` does); the
CLI (`tessera review explain`) and the `tessera bench` commands use the same functions. The model is
configured from the standard person-record columns only (int_identity__match_features), never from
per-dataset weights, and what it trains on and which pairs it scores follow from which of those
columns the data fills (`present_columns`): a source with names, dates of birth and addresses only
trains and links as well as one with emails and phones.

- u by random sampling (a fixed U_MAX_PAIRS random pairs, so its cost does not grow with the data);
- m by expectation maximisation in several sessions, each blocked on different fields (`EM_RULES`:
  email, phone, date of birth with the surname's sound, date of birth with postcode, street with
  postcode), so every comparison is estimated in a session that does not block on it; m is floored
  (`M_FLOOR`); a level that no session sees (a nickname in data that has none) falls back to weight
  0, or -5 where the values disagree, logged and flagged (`m_estimated`) in the model table;
- the prior from exact rules (identifiers when mapped, else name with date of birth or address);
- exact matches on names, emails, streets and postcodes adjusted for how common the value is.
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import duckdb
import pyarrow as pa

from orchestration.settings import Settings

log = logging.getLogger(__name__)

# The comparisons, in the order Splink scores them; models/identity/probabilistic/*.sql list the same.
COMPARISONS = ["first_name", "last_name", "date_of_birth", "email", "phone", "street", "postcode"]

FEATURE_COLUMNS = [
    "unique_id",
    "source_name",
    "table_name",
    "record_id",
    "first_name_key",
    "last_name_key",
    "first_name_formal",
    "last_name_formal",
    "date_of_birth",
    "email",
    "email_user",
    "phone",
    "street_key",
    "postcode",
    "city_key",
    "country",
]

# The share of true pairs the exact-identifier rules find, used only to estimate the prior (the
# probability that two random records match). Splink's documented default for this method.
EXACT_RULES_RECALL = 0.8
U_MAX_PAIRS = 2e6
SEED = 42
# Below this many person records, m and u cannot be estimated from the data: the stage is skipped.
MIN_RECORDS = 500

PAIR_SCHEMA = pa.schema(
    [
        ("pair_id", pa.string()),
        ("unique_id_l", pa.string()),
        ("unique_id_r", pa.string()),
        ("source_name_l", pa.string()),
        ("table_name_l", pa.string()),
        ("record_id_l", pa.string()),
        ("source_name_r", pa.string()),
        ("table_name_r", pa.string()),
        ("record_id_r", pa.string()),
        ("match_weight", pa.float64()),
        ("match_probability", pa.float64()),
        ("names_compatible", pa.bool_()),
        ("has_independent_evidence", pa.bool_()),
        *[(f"{c}_level", pa.string()) for c in COMPARISONS],
        *[(f"{c}_match_weight", pa.float64()) for c in COMPARISONS],
        ("splink_record", pa.string()),
    ]
)

MODEL_SCHEMA = pa.schema(
    [
        ("comparison_name", pa.string()),
        ("comparison_vector_value", pa.int64()),
        ("level_label", pa.string()),
        ("m_probability", pa.float64()),
        ("u_probability", pa.float64()),
        ("match_weight", pa.float64()),
        ("has_tf_adjustments", pa.bool_()),
        ("m_estimated", pa.bool_()),
        ("records", pa.int64()),
        ("training_seconds", pa.float64()),
        ("model_json", pa.string()),
        # The kept version this build scores with (identity_match_model_store), on every row.
        ("model_version", pa.int64()),
        ("trained_at", pa.timestamp("us")),
        ("train_reason", pa.string()),
        ("model_decision", pa.string()),  # "trained" this build, or "reused"
        ("builds_used", pa.int64()),
        ("comparison_columns", pa.string()),
        ("sources", pa.string()),
        ("untrained_levels", pa.string()),
        ("rules_fingerprint", pa.string()),
        # Splink's starting weight, log2 of the prior's odds (int_identity__match_pairs adds it).
        ("prior_match_weight", pa.float64()),
    ]
)

# int_identity__match_candidates: every blocked pair of person records with its comparison vector (the
# level each comparison falls in), scored with which model version, and the two guards that read only
# the levels. What a pair weighs follows from these, the model's m and u and the current term
# frequencies (int_identity__match_pairs).
CANDIDATE_SCHEMA = pa.schema(
    [
        ("pair_id", pa.string()),
        ("unique_id_l", pa.string()),
        ("unique_id_r", pa.string()),
        ("model_version", pa.int64()),
        *[(f"{c}_gamma", pa.int64()) for c in COMPARISONS],
        ("names_compatible", pa.bool_()),
        ("has_independent_evidence", pa.bool_()),
    ]
)

# The columns of int_identity__match_record_changes that the candidates step reads.
CHANGE_COLUMNS = ["unique_id", "is_current", "is_unchanged", "scored_model_version"]


def pair_id(unique_id_l: str, unique_id_r: str) -> str:
    """A short, stable id for a pair of records (order-independent)."""
    low, high = sorted((unique_id_l, unique_id_r))
    return "pair_" + hashlib.md5(f"{low}|{high}".encode()).hexdigest()[:16]


def swapped_names_sql() -> str:
    """Splink SQL for "the names are swapped": a swap moves both names ("Olga Ruman" and "Ruman
    Olga", "William Gates" and "Gates Bill", or "Ruman" with no other name), unlike "Ruman Olga"
    and "Klara Ruman", who only share the surname. Names in first-name position are compared by
    their formal name (nicknames mapped)."""
    return (
        '(("first_name_key_l" = "last_name_key_r"'
        ' and ("last_name_key_l" is null or "last_name_formal_l" = "first_name_formal_r"))'
        ' or ("first_name_key_r" = "last_name_key_l"'
        ' and ("last_name_key_r" is null or "last_name_formal_r" = "first_name_formal_l")))'
    )


# Date of birth. A typo is one edit of its eight digits (a digit changed, dropped or added, or two
# neighbouring digits swapped: 1954 for 1945) or the day and the month swapped (a date written the
# other way round); either still confirms a pair. Two people of one name and address whose dates of
# birth are more than a generation apart are a parent and a child; dates apart by less than that
# (but by more than a typo) are evidence the model weighs, not a household pattern. A parent is more
# than GENERATION_YEARS older than their child (all but a vanishing few).
GENERATION_YEARS = 15
DOB_TYPO_LABEL = "one typo (a digit, two digits swapped, or day and month swapped)"


def dob_typo_sql() -> str:
    """Splink SQL: the two dates of birth differ by a typo (see GENERATION_YEARS)."""
    digits = "strftime(\"date_of_birth_{side}\", '%Y%m%d')"
    return (
        f"(damerau_levenshtein({digits.format(side='l')}, {digits.format(side='r')}) <= 1"
        ' or (year("date_of_birth_l") = year("date_of_birth_r")'
        ' and month("date_of_birth_l") = day("date_of_birth_r")'
        ' and day("date_of_birth_l") = month("date_of_birth_r")))'
    )


def swapped_with_a_typo_sql() -> str:
    """Splink SQL for "the names are swapped, one or both with a typo" ("Madelnie Conaghty" and
    "Conaghty Madeline", "Isla Coates" and "Coates Isra"): each name is the other record's other
    name but for one edit (a letter changed, dropped, added, or two swapped). Both names must be
    given on both sides, so a shared surname alone ("Ruman Olga", "Klara Ruman") is not a swap. The
    lengths are compared first, as in email_typo_sql: names one edit apart differ in length by at most one."""
    return (
        'abs(length("first_name_key_l") - length("last_name_key_r")) <= 1'
        ' and abs(length("last_name_key_l") - length("first_name_key_r")) <= 1'
        ' and damerau_levenshtein("first_name_key_l", "last_name_key_r") <= 1'
        ' and damerau_levenshtein("last_name_key_l", "first_name_key_r") <= 1'
    )


def email_typo_sql() -> str:
    """Splink SQL: the two emails differ by one edit (a character changed, dropped, added, or two
    swapped) and hold the same digits ("olga.ruman@..." and "olga.rumna@...", not "olga1@..." and
    "olga2@..."). The cheap conditions come first: strings one edit apart differ in length by at most
    one, so the edit distance, the costly part, is computed only for the few random pairs whose lengths
    and digits allow it (estimating u compares U_MAX_PAIRS random pairs: 12 of 18-21 s at 3,000 records
    went into this distance when it came first; the level holds for exactly the same pairs)."""
    return (
        'abs(length("email_l") - length("email_r")) <= 1'
        " and regexp_replace(\"email_l\", '[^0-9]', '', 'g')"
        " = regexp_replace(\"email_r\", '[^0-9]', '', 'g')"
        ' and damerau_levenshtein("email_l", "email_r") <= 1'
    )


def _comparisons() -> list[Any]:
    import splink.comparison_level_library as cll
    import splink.comparison_library as cl

    def swapped() -> Any:
        return cll.CustomLevel(swapped_names_sql(), label_for_charts="first and last name swapped")

    def swapped_with_a_typo() -> Any:
        return cll.CustomLevel(swapped_with_a_typo_sql(), label_for_charts="swapped, with a typo")

    return [
        cl.CustomComparison(
            output_column_name="first_name",
            comparison_levels=[
                cll.NullLevel("first_name_key"),
                cll.ExactMatchLevel("first_name_key", term_frequency_adjustments=True),
                cll.ExactMatchLevel("first_name_formal").configure(
                    label_for_charts="same formal name (nickname)"
                ),
                swapped(),
                swapped_with_a_typo(),
                cll.JaroWinklerLevel("first_name_key", 0.92),
                cll.JaroWinklerLevel("first_name_key", 0.80),
                cll.ElseLevel(),
            ],
        ),
        cl.CustomComparison(
            output_column_name="last_name",
            comparison_levels=[
                cll.NullLevel("last_name_key"),
                cll.ExactMatchLevel("last_name_key", term_frequency_adjustments=True),
                swapped(),
                swapped_with_a_typo(),
                cll.JaroWinklerLevel("last_name_key", 0.92),
                cll.JaroWinklerLevel("last_name_key", 0.80),
                cll.ElseLevel(),
            ],
        ),
        cl.CustomComparison(
            output_column_name="date_of_birth",
            comparison_levels=[
                cll.NullLevel("date_of_birth"),
                cll.ExactMatchLevel("date_of_birth").configure(
                    label_for_charts="Exact match on date of birth"
                ),
                cll.CustomLevel(dob_typo_sql(), label_for_charts=DOB_TYPO_LABEL),
                cll.AbsoluteDateDifferenceLevel(
                    "date_of_birth", input_is_string=False, threshold=1, metric="month"
                ),
                cll.AbsoluteDateDifferenceLevel(
                    "date_of_birth", input_is_string=False, threshold=1, metric="year"
                ),
                cll.AbsoluteDateDifferenceLevel(
                    "date_of_birth", input_is_string=False, threshold=GENERATION_YEARS, metric="year"
                ).configure(label_for_charts=f"within a generation (at most {GENERATION_YEARS} years apart)"),
                cll.ElseLevel(),
            ],
        ),
        cl.CustomComparison(
            output_column_name="email",
            comparison_levels=[
                cll.NullLevel("email"),
                cll.ExactMatchLevel("email", term_frequency_adjustments=True),
                cll.CustomLevel(email_typo_sql(), label_for_charts="one typo in the email (same digits)"),
                cll.ElseLevel(),
            ],
        ),
        cl.CustomComparison(
            output_column_name="phone",
            comparison_levels=[
                cll.NullLevel("phone"),
                cll.ExactMatchLevel("phone"),
                cll.LevenshteinLevel("phone", 1),
                cll.ElseLevel(),
            ],
        ),
        cl.CustomComparison(
            output_column_name="street",
            comparison_levels=[
                cll.NullLevel("street_key"),
                cll.ExactMatchLevel("street_key", term_frequency_adjustments=True),
                cll.JaroWinklerLevel("street_key", 0.90),
                cll.ElseLevel(),
            ],
        ),
        cl.CustomComparison(
            output_column_name="postcode",
            comparison_levels=[
                cll.NullLevel("postcode"),
                cll.ExactMatchLevel("postcode", term_frequency_adjustments=True),
                cll.DamerauLevenshteinLevel("postcode", 1).configure(
                    label_for_charts="one typo in the postcode (a character, or two swapped)"
                ),
                cll.ElseLevel(),
            ],
        ),
    ]


@dataclass(frozen=True)
class Rule:
    """A blocking rule: records l and r are compared when `sql` (over l. and r.) holds. `needs` are
    the feature columns it reads; a rule is used only when the data fills all of them."""

    name: str
    sql: str
    needs: tuple[str, ...]


def _equal(*columns: str) -> str:
    return " and ".join(f"l.{c} = r.{c}" for c in columns)


def _initial(column: str) -> str:
    return f"substr(l.{column}, 1, 1) = substr(r.{column}, 1, 1)"


# Which pairs are scored. Every rule pairs records on something rarer than a common first and last
# name (the pairs that dominate time and memory at 1M records). Together they survive any one error,
# and most pairs of errors: a typo or a replaced name (date of birth with postcode or street, or with
# the surname's sound; street with postcode), a swap of the first and last name, a missing or
# mistyped date of birth (postcode with a name or an initial), a typo in the postcode (date of birth
# with a name or the street; the full name within the postcode's area), a typo in the email's
# domain (its user part).
BLOCKING_RULES: tuple[Rule, ...] = (
    Rule("email user part", _equal("email_user"), ("email_user",)),
    Rule("phone", _equal("phone"), ("phone",)),
    # The same number under another country code: a national number ("0151 0958 5548") that a source
    # without a country column read with the default country, next to the same number written with
    # its own (+49). Phones are nearly unique, so this compares few pairs.
    Rule("phone's national number", _equal("phone_national"), ("phone",)),
    Rule("postcode + surname", _equal("postcode", "last_name_key"), ("postcode", "last_name_key")),
    Rule("postcode + first name", _equal("postcode", "first_name_formal"), ("postcode", "first_name_formal")),
    Rule(
        "postcode + first initial",
        f"l.postcode = r.postcode and {_initial('first_name_key')}",
        ("postcode", "first_name_key"),
    ),  # fmt: skip
    Rule(
        "date of birth + surname",
        _equal("date_of_birth", "last_name_key"),
        ("date_of_birth", "last_name_key"),
    ),
    Rule(
        "date of birth + first name",
        _equal("date_of_birth", "first_name_formal"),
        ("date_of_birth", "first_name_formal"),
    ),  # fmt: skip
    Rule("date of birth + postcode", _equal("date_of_birth", "postcode"), ("date_of_birth", "postcode")),
    Rule(
        "date of birth + first initial",
        f"l.date_of_birth = r.date_of_birth and {_initial('first_name_key')}",
        ("date_of_birth", "first_name_key"),
    ),
    Rule("date of birth + street", _equal("date_of_birth", "street_key"), ("date_of_birth", "street_key")),
    Rule(
        "street + first name", _equal("street_key", "first_name_formal"), ("street_key", "first_name_formal")
    ),
    Rule("street + surname", _equal("street_key", "last_name_key"), ("street_key", "last_name_key")),
    Rule("street + postcode", _equal("street_key", "postcode"), ("street_key", "postcode")),
    Rule(
        "full name + postcode area",
        _equal("first_name_formal", "last_name_key")
        + " and substr(l.postcode, 1, 2) = substr(r.postcode, 1, 2)",
        ("first_name_formal", "last_name_key", "postcode"),
    ),  # fmt: skip
    Rule(
        "surname sound + birth year",
        "l.last_name_sound = r.last_name_sound and l.birth_year = r.birth_year",
        ("last_name_key", "date_of_birth"),
    ),  # fmt: skip
    Rule(
        "first and last name swapped",
        "l.first_name_key = r.last_name_key and l.last_name_key = r.first_name_key",
        ("first_name_key", "last_name_key"),
    ),  # fmt: skip
    Rule(
        "full name + city",
        _equal("first_name_formal", "last_name_key", "city_key"),
        ("first_name_formal", "last_name_key", "city_key"),
    ),  # fmt: skip
    Rule(
        "full name + email's first letters",
        _equal("first_name_formal", "last_name_key")
        + " and substr(l.email_user, 1, 3) = substr(r.email_user, 1, 3)",
        ("first_name_formal", "last_name_key", "email_user"),
    ),  # fmt: skip
)

# The expectation-maximisation sessions. A session cannot estimate the comparisons its rule reads
# (both name comparisons read both names, for swaps), so each comparison needs sessions blocked on
# other fields; every applicable session runs, and Splink averages each level's m over the sessions
# that saw it. Date of birth goes with the surname's Soundex (a derived key no comparison reads) to
# keep that session small at a million records while the names stay estimated in it: without the
# names, a session has too little left to tell a true pair that moved house from two strangers, and
# learns that a different street never happens to one person. The price is a slight bias: pairs whose
# surnames sound different are missing from that session (the street + postcode session has them).
# "full name" runs only when no date of birth is mapped: common names make it large.
EM_RULES: tuple[Rule, ...] = (
    Rule("email", _equal("email"), ("email",)),
    Rule("phone", _equal("phone"), ("phone",)),
    Rule(
        "date of birth + surname sound",
        "l.date_of_birth = r.date_of_birth and l.last_name_sound = r.last_name_sound",
        ("date_of_birth", "last_name_key"),
    ),  # fmt: skip
    Rule("date of birth + postcode", _equal("date_of_birth", "postcode"), ("date_of_birth", "postcode")),
    Rule("street + postcode", _equal("street_key", "postcode"), ("street_key", "postcode")),
)
FULL_NAME_SESSION = Rule(
    "full name", _equal("first_name_key", "last_name_key"), ("first_name_key", "last_name_key")
)


def em_sessions(present: set[str]) -> list[Rule]:
    """The EM sessions the data's columns allow (see EM_RULES)."""
    sessions = applicable(EM_RULES, present)
    if "date_of_birth" not in present and set(FULL_NAME_SESSION.needs) <= present:
        sessions.append(FULL_NAME_SESSION)
    return sessions


# The exact rules for the prior (the probability that two random records match): identifiers when
# the data has them, else name with date of birth, else name with street and postcode.
PRIOR_RULES: tuple[tuple[Rule, ...], ...] = (
    (EM_RULES[0], EM_RULES[1]),
    (
        Rule(
            "full name + date of birth",
            _equal("first_name_key", "last_name_key", "date_of_birth"),
            ("first_name_key", "last_name_key", "date_of_birth"),
        ),  # fmt: skip
        Rule(
            "full name + street + postcode",
            _equal("first_name_key", "last_name_key", "street_key", "postcode"),
            ("first_name_key", "last_name_key", "street_key", "postcode"),
        ),  # fmt: skip
    ),
)

# Columns derived from the features before Splink sees them (blocking keys only).
DERIVED_COLUMNS = ["last_name_sound", "birth_year", "phone_national"]

_SOUNDEX_CODES = {
    **dict.fromkeys("bfpv", "1"),
    **dict.fromkeys("cgjkqsxz", "2"),
    **dict.fromkeys("dt", "3"),
    "l": "4",
    **dict.fromkeys("mn", "5"),
    "r": "6",
}


def soundex(name: str | None) -> str | None:
    """American Soundex of a name key ("pettigrove" and "pettigrew" → P326): names that sound alike
    share it, so a misspelt surname still meets its record. None for a name without letters."""
    letters = [c for c in (name or "").lower() if "a" <= c <= "z"]
    if not letters:
        return None
    code, previous = letters[0].upper(), _SOUNDEX_CODES.get(letters[0], "")
    for c in letters[1:]:
        digit = _SOUNDEX_CODES.get(c, "")
        if digit and digit != previous:
            code += digit
            if len(code) == 4:
                break
        if c not in "hw":  # h and w do not separate two equal codes; vowels do
            previous = digit
    return code.ljust(4, "0")


def national_number(phone: str | None) -> str | None:
    """The national significant number of an E.164 phone: its digits after the country calling code
    ("+4915109585548" and "+4415109585548" → "15109585548"). Calling codes are prefix-free, so at most
    one of the first one to three digits is a code (phonenumbers' table of them). None for a number
    with no known calling code."""
    from phonenumbers import COUNTRY_CODE_TO_REGION_CODE

    digits = (phone or "").removeprefix("+")
    for length in (1, 2, 3):
        if digits[:length].isdigit() and int(digits[:length]) in COUNTRY_CODE_TO_REGION_CODE:
            return digits[length:] or None
    return None


def present_columns(features: pa.Table) -> set[str]:
    """The feature columns the data fills: at least two records have a value (a column no record
    fills, because no source maps it, cannot block, train or link anything)."""
    return {
        name for name in features.column_names if features.num_rows - features.column(name).null_count >= 2
    }


def applicable(rules: tuple[Rule, ...], present: set[str]) -> list[Rule]:
    return [rule for rule in rules if set(rule.needs) <= present]


def settings(model: dict[str, Any] | None = None, present: set[str] | None = None) -> Any:
    from splink import SettingsCreator

    if model is not None:
        return SettingsCreator.from_path_or_dict(model)
    rules = applicable(BLOCKING_RULES, present if present is not None else set(FEATURE_COLUMNS))
    blocking: list[Any] = [rule.sql for rule in rules]  # Splink takes SQL over l. and r. as a rule
    return SettingsCreator(
        link_type="dedupe_only",
        unique_id_column_name="unique_id",
        comparisons=_comparisons(),
        blocking_rules_to_generate_predictions=blocking,
        additional_columns_to_retain=["source_name", "table_name", "record_id"],
        retain_matching_columns=True,
        retain_intermediate_calculation_columns=True,
        probability_two_random_records_match=1e-5,
    )


def _connection() -> duckdb.DuckDBPyConnection:
    """Splink's working tables live in a private in-memory database, never in the warehouse file. It has
    the build's memory limit, and spills into a folder of its own under the build's (two DuckDB databases
    never share a spill folder). DuckDB creates the folder when it first spills but not its parents,
    and the build's own folder exists only once the build file's database has spilled: it is made
    here, or a first spill from matching fails the build (found at 1M customers with a memory limit)."""
    settings = Settings.from_env()
    spill = settings.duckdb_spill_dir / "matching"
    spill.parent.mkdir(parents=True, exist_ok=True)
    con = duckdb.connect()
    con.execute("set preserve_insertion_order = false")
    for name, value in [
        ("memory_limit", settings.duckdb_memory_limit),
        ("temp_directory", str(spill)),
    ]:
        con.execute(f"set {name} = '{value.replace(chr(39), chr(39) * 2)}'")
    return con


def with_blocking_keys(features: pa.Table) -> pa.Table:
    """The feature columns in unique_id order, plus the derived blocking keys (surname Soundex, birth
    year, the phone's national number). In unique_id order: the same records give the same model and
    pairs whichever warehouse read them (a table's scan order is not part of its contents, and
    Splink's sums follow the input order)."""
    import pyarrow.compute as pc

    ordered = features.select(FEATURE_COLUMNS).sort_by("unique_id")
    names = ordered.column("last_name_key")
    distinct = pc.unique(names)
    sounds = pa.array([soundex(v) for v in distinct.to_pylist()], pa.string())
    last_name_sound = pc.take(sounds, pc.index_in(names, value_set=distinct))
    birth_year = pc.year(ordered.column("date_of_birth"))
    phones = ordered.column("phone")
    distinct_phones = pc.unique(phones)
    nationals = pa.array([national_number(v) for v in distinct_phones.to_pylist()], pa.string())
    phone_national = pc.take(nationals, pc.index_in(phones, value_set=distinct_phones))
    return (
        ordered.append_column("last_name_sound", last_name_sound)
        .append_column("birth_year", birth_year)
        .append_column("phone_national", phone_national)
    )


def model_blocking_rules(model: dict[str, Any] | None) -> list[str]:
    """The blocking rules a trained model scores with (SQL over l. and r.)."""
    rules = (model or {}).get("blocking_rules_to_generate_predictions", [])
    return [rule if isinstance(rule, str) else str(rule.get("blocking_rule", "")) for rule in rules]


def blocking_completeness(features: pa.Table, persons: pa.Table, rules: list[str]) -> tuple[int, int]:
    """Pairs completeness against a truth: (true pairs the rules compare, true pairs), over the
    feature records that `persons` (unique_id, person_id) assigns to a person."""
    con = duckdb.connect()
    try:
        con.register("keyed", with_blocking_keys(features))
        con.register("persons", persons.select(["unique_id", "person_id"]))
        condition = " or ".join(f"({rule})" for rule in rules) or "false"
        compared, true = con.execute(
            f"""
            select count(*) filter (where coalesce({condition}, false)), count(*)
            from persons as pl
            inner join persons as pr on pr.person_id = pl.person_id and pr.unique_id > pl.unique_id
            inner join keyed as l on l.unique_id = pl.unique_id
            inner join keyed as r on r.unique_id = pr.unique_id
            """
        ).fetchall()[0]
    finally:
        con.close()
    return int(compared), int(true)


def _linker(
    features: pa.Table,
    model: dict[str, Any] | None,
    con: duckdb.DuckDBPyConnection,
    present: set[str] | None = None,
) -> Any:
    from splink import DuckDBAPI, Linker

    db_api = DuckDBAPI(connection=con)
    frame = db_api.register(with_blocking_keys(features), dataset_display_name="person_records")
    return Linker(frame, settings(model, present), log_level=logging.ERROR)


@dataclass
class TrainedModel:
    model: dict[str, Any]
    records: int
    seconds: float
    steps: dict[str, float] = field(default_factory=dict)
    # Comparison levels no training session could estimate: "comparison: level" (weight 0, m = u).
    untrained_levels: list[str] = field(default_factory=list)
    # What it was trained on: the mapped feature columns the data filled, and the sources.
    comparison_columns: tuple[str, ...] = ()
    sources: tuple[str, ...] = ()
    # The matching rules it was trained under (rules_fingerprint()).
    fingerprint: str = ""


def _level_name(comparison: dict[str, Any], level: dict[str, Any]) -> str:
    return f"{comparison.get('output_column_name')}: {level.get('label_for_charts') or level.get('sql_condition')}"


# The weight of a comparison's last level ("all other comparisons": the values disagree) when no
# training pair shows it: Splink's own default for that level, so an unseen disagreement still
# counts against a match, as every trained one does.
UNSEEN_DISAGREEMENT_WEIGHT = -5.0
# The least m a level can have: EM drives the m of a level that its true pairs rarely show towards 0
# (weights of -500 were seen: a married name, a move), and then that one field vetoes every other
# agreement. One true pair in a thousand showing any level is a floor no real list goes below (typos,
# moves and new surnames happen); it bounds a disagreement at about -10 bits.
M_FLOOR = 1e-3


def _fallback(model: dict[str, Any], sampled_pairs: float) -> list[str]:
    """Fill what training could not estimate, explicitly rather than with Splink's built-in defaults
    (which count an unseen agreement level as strong evidence):
    - a level no EM session saw: weight 0 (m = u), or UNSEEN_DISAGREEMENT_WEIGHT for the level where
      the values disagree; m = u = 0.5 when u is unknown too;
    - a level EM saw but no random pair showed: u = 1 / the pairs sampled (it is at most that rare);
    - a trained m below M_FLOOR: M_FLOOR.
    Returns the levels whose m fell back."""
    untrained = []
    for comparison in model.get("comparisons", []):
        levels = [
            level for level in comparison.get("comparison_levels", []) if not level.get("is_null_level")
        ]
        for position, level in enumerate(levels):
            m, u = level.get("m_probability"), level.get("u_probability")
            if m is None:
                untrained.append(_level_name(comparison, level))
                if u is None:
                    level["m_probability"] = level["u_probability"] = 0.5
                elif position == len(levels) - 1 and len(levels) > 1:
                    level["m_probability"] = u * 2**UNSEEN_DISAGREEMENT_WEIGHT
                else:
                    level["m_probability"] = u
            else:
                level["m_probability"] = max(m, M_FLOOR)
                if u is None:
                    level["u_probability"] = 1 / max(sampled_pairs, 1.0)
    return untrained


# The fewest pairs an EM session trains on (Splink advises a few hundred at least).
MIN_EM_PAIRS = 100


def _count_pairs(keyed: pa.Table, rule_sql: str) -> int:
    con = duckdb.connect()
    try:
        con.register("keyed", keyed)
        return int(
            con.execute(
                f"select count(*) from keyed as l inner join keyed as r on l.unique_id < r.unique_id and {rule_sql}"
            ).fetchall()[0][0]
        )
    finally:
        con.close()


def _em_session(linker: Any, rule: Rule) -> bool:
    """One EM session; False when Splink fails on it. A session takes the comparisons its rule
    reads out of the linker's model (and adjusts its prior) before it trains, and Splink 5.0 does
    not put them back when the session fails: the model would then lack, say, the email comparison,
    and prediction fail on `gamma_email`. So the model is restored and the other sessions train."""
    before = linker._settings_obj.core_model_settings.copy()  # a deep copy
    try:
        linker.training.estimate_parameters_using_expectation_maximisation(
            rule.sql, fix_probability_two_random_records_match=True
        )
    except Exception as error:
        linker._settings_obj.core_model_settings = before
        log.warning(
            "EM session on %s failed and was skipped (the other sessions train): %s", rule.name, error
        )
        return False
    return True


def train(
    features: pa.Table, seed: int = SEED, u_max_pairs: float = U_MAX_PAIRS, min_records: int = MIN_RECORDS
) -> TrainedModel | None:
    """Estimate the model from the data at hand (see the module docstring): the prior from exact
    rules, u by random sampling, m by expectation maximisation over every EM session the data's
    columns allow. A level no session estimates gets weight 0, and the count is logged.

    With fewer than `min_records` person records there is too little data to estimate m and u,
    and no model is trained (None): the stage links nothing rather than guess."""
    if features.num_rows < min_records:
        log.warning(
            "probabilistic matching skipped: %d person records, fewer than the %d needed to train",
            features.num_rows,
            min_records,
        )
        return None
    started = time.perf_counter()
    steps: dict[str, float] = {}
    present = present_columns(features)
    con = _connection()
    try:
        linker = _linker(features, None, con, present)
        mark = time.perf_counter()
        keyed = with_blocking_keys(features)
        for rules in PRIOR_RULES:
            # A rule set that pairs no records (an email column where no two records share an
            # address) would give a prior of 0, and every later step fails on log(0): try the next.
            usable = [rule for rule in applicable(rules, present) if _count_pairs(keyed, rule.sql) > 0]
            if not usable:
                continue
            try:
                linker.training.estimate_probability_two_random_records_match(
                    [rule.sql for rule in usable], recall=EXACT_RULES_RECALL
                )
                break
            except Exception as error:  # no pairs under these rules: try the next, else keep the default
                log.warning("prior not estimated from %s (%s)", [r.name for r in usable], error)
        steps["prior"] = time.perf_counter() - mark
        mark = time.perf_counter()
        linker.training.estimate_u_using_random_sampling(max_pairs=u_max_pairs, seed=seed)
        steps["u_random_sampling"] = time.perf_counter() - mark
        for rule in em_sessions(present):
            mark = time.perf_counter()
            pairs = _count_pairs(keyed, rule.sql)
            if pairs < MIN_EM_PAIRS:
                # Splink fails on an empty session and leaves the model without the comparisons that
                # session excluded; a handful of pairs would only give noise. The other sessions train.
                log.warning(
                    "EM session on %s skipped: %d pairs, fewer than the %d it needs",
                    rule.name,
                    pairs,
                    MIN_EM_PAIRS,
                )
                continue
            if _em_session(linker, rule):
                steps[f"em {rule.name}"] = time.perf_counter() - mark
        model = linker.misc.save_model_to_json()
    finally:
        con.close()
    untrained = _fallback(model, min(u_max_pairs, features.num_rows * (features.num_rows - 1) / 2))
    if untrained:
        log.warning(
            "%d comparison level(s) could not be estimated from these %d records (no training pairs show "
            "them) and count as neither for nor against a match: %s",
            len(untrained),
            features.num_rows,
            "; ".join(untrained),
        )
    return TrainedModel(
        model,
        features.num_rows,
        time.perf_counter() - started,
        steps,
        untrained,
        comparison_columns(features),
        source_names(features),
        rules_fingerprint(),
    )


def model_table(trained: TrainedModel | None, version: ModelVersion | None = None) -> pa.Table:
    """One row per comparison level with its m, u and match weight; the model JSON rides along, and
    every row names the kept version (`version`; a first version trained now when not given).
    No rows when no model was trained."""
    rows: list[dict[str, Any]] = []
    if trained is None:
        return MODEL_SCHEMA.empty_table()
    if version is None:
        version = ModelVersion(1, _now(), "first", "trained", 1)
    kept = {
        "model_version": version.version,
        "trained_at": version.trained_at,
        "train_reason": version.reason,
        "model_decision": version.decision,
        "builds_used": version.builds_used,
        "comparison_columns": ",".join(trained.comparison_columns),
        "sources": ",".join(trained.sources),
        "untrained_levels": json.dumps(trained.untrained_levels),
        "rules_fingerprint": trained.fingerprint or None,
        "prior_match_weight": prior_match_weight(trained.model),
    }
    model_json = json.dumps(trained.model)
    untrained = set(trained.untrained_levels)
    for comparison in trained.model.get("comparisons", []):
        levels = comparison.get("comparison_levels", [])
        non_null = [level for level in levels if not level.get("is_null_level")]
        for position, level in enumerate(levels):
            vector_value = -1 if level.get("is_null_level") else len(non_null) - 1 - non_null.index(level)
            m, u = level.get("m_probability"), level.get("u_probability")
            weight = math.log2(m / u) if m and u else None
            rows.append(
                {
                    "comparison_name": comparison.get("output_column_name"),
                    "comparison_vector_value": vector_value,
                    "level_label": level.get("label_for_charts") or level.get("sql_condition"),
                    "m_probability": m,
                    "u_probability": u,
                    "match_weight": weight,
                    "has_tf_adjustments": bool(level.get("tf_adjustment_column")),
                    "m_estimated": bool(level.get("is_null_level"))
                    or _level_name(comparison, level) not in untrained,
                    "records": trained.records,
                    "training_seconds": round(trained.seconds, 3),
                    "model_json": model_json if position == 0 and not rows else None,
                    **kept,
                }
            )
    return pa.Table.from_pylist(rows, schema=MODEL_SCHEMA)


# ---------------------------------------------------------------------------------------------
# Kept models: train apart from the build (docs/identity.md, "When models are retrained").

# Feature columns that identify a record rather than describe a person: not comparison columns.
_ID_COLUMNS = {"unique_id", "source_name", "table_name", "record_id"}


def rules_fingerprint() -> str:
    """A digest of the matching rules a model is trained under: the comparisons and their levels, the
    blocking, EM and prior rules, the training constants and Splink's version. A kept model trained
    under other rules (an upgrade of Tessera or Splink that changed them) is retrained, since its m and
    u belong to levels that may no longer exist or mean the same."""
    import splink

    creator = settings(None, set(FEATURE_COLUMNS)).create_settings_dict("duckdb")
    creator.pop("linker_uid", None)  # random per linker

    def rules(items: tuple[Rule, ...] | list[Rule]) -> list[list[Any]]:
        return [[rule.name, rule.sql, list(rule.needs)] for rule in items]

    rules_of = {
        "splink": splink.__version__,
        "settings": creator,
        "blocking": rules(BLOCKING_RULES),
        "em": rules(EM_RULES) + rules([FULL_NAME_SESSION]),
        "prior": [rules(group) for group in PRIOR_RULES],
        "derived": DERIVED_COLUMNS,
        "constants": [SEED, U_MAX_PAIRS, MIN_EM_PAIRS, EXACT_RULES_RECALL],
    }
    text = json.dumps(rules_of, sort_keys=True, default=str)
    return "sha256:" + hashlib.sha256(text.encode()).hexdigest()[:16]


def comparison_columns(features: pa.Table) -> tuple[str, ...]:
    """The mapped feature columns the data fills (`present_columns`), sorted: what the model's
    blocking rules and EM sessions were chosen from. Another set needs another model."""
    return tuple(sorted(present_columns(features.select(FEATURE_COLUMNS)) - _ID_COLUMNS))


def source_names(features: pa.Table) -> tuple[str, ...]:
    import pyarrow.compute as pc

    return tuple(
        sorted(str(v) for v in pc.unique(features.column("source_name")).to_pylist() if v is not None)
    )


def _now() -> datetime:
    """UTC, without a zone (stored as a timestamp on both warehouses)."""
    return datetime.now(UTC).replace(tzinfo=None, microsecond=0)


@dataclass(frozen=True)
class RetrainPolicy:
    """When a kept model is due for a retrain (vars identity_retrain, identity_retrain_record_drift,
    identity_retrain_max_age_days in dbt_project.yml; a full refresh retrains too)."""

    requested: bool = False
    full_refresh: bool = False
    record_drift: float = 0.2
    max_age_days: float = 30.0


@dataclass(frozen=True)
class KeptModel:
    """The latest version in identity_match_model_store, as the last build left it."""

    version: int
    trained_at: datetime
    records: int
    comparison_columns: tuple[str, ...]
    sources: tuple[str, ...]
    builds_used: int
    seconds: float
    untrained_levels: list[str]
    model: dict[str, Any]
    reason: str = ""
    # None for a version kept before fingerprints were recorded.
    fingerprint: str | None = None


@dataclass(frozen=True)
class ModelVersion:
    """The version a build scores with, and whether this build trained it or reused it."""

    version: int
    trained_at: datetime
    reason: str  # why it was trained: first, forced, full refresh, or which drift
    decision: str  # "trained" (this build) or "reused"
    builds_used: int


# The columns of int_identity__match_model_kept: the policy, then the kept version (null when none).
KEPT_COLUMNS = [
    "retrain_requested",
    "full_refresh",
    "record_drift",
    "max_age_days",
    "model_version",
    "trained_at",
    "training_records",
    "train_reason",
    "comparison_columns",
    "sources",
    "builds_used",
    "training_seconds",
    "untrained_levels",
    "model_json",
    "rules_fingerprint",
]


def _split(value: str | None) -> tuple[str, ...]:
    return tuple(v for v in (value or "").split(",") if v)


def kept_from_table(table: pa.Table) -> tuple[KeptModel | None, RetrainPolicy]:
    """int_identity__match_model_kept's one row: the retrain policy and the kept model, if any."""
    rows = table.to_pylist()
    if len(rows) != 1:
        raise ValueError(f"int_identity__match_model_kept must have exactly one row, not {len(rows)}")
    row = rows[0]
    policy = RetrainPolicy(
        requested=bool(row["retrain_requested"]),
        full_refresh=bool(row["full_refresh"]),
        record_drift=float(row["record_drift"]),
        max_age_days=float(row["max_age_days"]),
    )
    if row["model_version"] is None or not row["model_json"]:
        return None, policy
    trained_at = row["trained_at"]
    if isinstance(trained_at, str):
        trained_at = datetime.fromisoformat(trained_at)
    kept = KeptModel(
        version=int(row["model_version"]),
        trained_at=trained_at.replace(tzinfo=None),
        records=int(row["training_records"]),
        comparison_columns=_split(row["comparison_columns"]),
        sources=_split(row["sources"]),
        builds_used=int(row["builds_used"] or 0),
        seconds=float(row["training_seconds"] or 0.0),
        untrained_levels=list(json.loads(row["untrained_levels"] or "[]")),
        model=dict(json.loads(row["model_json"])),
        reason=str(row["train_reason"] or ""),
        fingerprint=row.get("rules_fingerprint") or None,
    )
    return kept, policy


def retrain_reason(
    kept: KeptModel | None,
    features: pa.Table,
    policy: RetrainPolicy,
    now: datetime | None = None,
    fingerprint: str | None = None,
) -> str | None:
    """Why this build must train a new version, or None when the kept one still fits the data and was
    trained under the same matching rules (`fingerprint`, by default rules_fingerprint())."""
    if kept is None:
        return "first"
    if policy.full_refresh:
        return "full refresh"
    if policy.requested:
        return "forced"
    current = rules_fingerprint() if fingerprint is None else fingerprint
    if kept.fingerprint != current:
        return (
            "matching rules changed"
            if kept.fingerprint
            else "matching rules changed (the kept version predates rule fingerprints)"
        )
    columns = comparison_columns(features)
    if columns != kept.comparison_columns:
        added = sorted(set(columns) - set(kept.comparison_columns))
        removed = sorted(set(kept.comparison_columns) - set(columns))
        return (
            "drift: columns"
            + (f" now present {added}" if added else "")
            + (f" now absent {removed}" if removed else "")
        )
    new_sources = sorted(set(source_names(features)) - set(kept.sources))
    if new_sources:
        return f"drift: new source {new_sources}"
    change = abs(features.num_rows - kept.records) / max(kept.records, 1)
    if change > policy.record_drift:
        return (
            f"drift: person records {kept.records} -> {features.num_rows} "
            f"({change:.0%} > {policy.record_drift:.0%})"
        )
    age_days = ((now or _now()) - kept.trained_at).total_seconds() / 86400
    if age_days > policy.max_age_days:
        return f"drift: age {age_days:.1f} days > {policy.max_age_days:g}"
    return None


@dataclass
class Fitted:
    """What a build scores with: the model (None below min_records) and its kept version."""

    trained: TrainedModel | None
    version: ModelVersion | None

    @property
    def table(self) -> pa.Table:
        return model_table(self.trained, self.version)


def train_or_reuse(features: pa.Table, kept_table: pa.Table, min_records: int = MIN_RECORDS) -> Fitted:
    """Score with the kept model when it still fits (`retrain_reason` is None); else train and keep
    a new version. Below `min_records` nothing is trained or scored, as `train` says."""
    kept, policy = kept_from_table(kept_table)
    if features.num_rows < min_records:
        return Fitted(train(features, min_records=min_records), None)
    reason = retrain_reason(kept, features, policy)
    if reason is None and kept is not None:
        log.info("identity matching reuses kept model version %d (trained %s)", kept.version, kept.trained_at)
        reused = TrainedModel(
            kept.model,
            kept.records,
            kept.seconds,
            {},
            kept.untrained_levels,
            kept.comparison_columns,
            kept.sources,
            kept.fingerprint or "",
        )
        return Fitted(
            reused, ModelVersion(kept.version, kept.trained_at, kept.reason, "reused", kept.builds_used + 1)
        )
    log.info("identity matching trains a new model version: %s", reason)
    trained = train(features, min_records=min_records)
    version = ModelVersion((kept.version if kept else 0) + 1, _now(), str(reason), "trained", 1)
    return Fitted(trained, version if trained is not None else None)


def prior_match_weight(model: dict[str, Any]) -> float:
    """The model's starting weight, as Splink computes it: log2 of the prior's odds."""
    from splink.internals.misc import prob_to_match_weight

    return float(prob_to_match_weight(float(model["probability_two_random_records_match"])))


def model_from_table(table: pa.Table) -> dict[str, Any] | None:
    """The Splink model stored in int_identity__match_model, or None when none was trained."""
    for value in table.column("model_json").to_pylist():
        if value:
            return dict(json.loads(value))
    return None


def _levels(model: dict[str, Any]) -> dict[str, dict[int, str]]:
    labels: dict[str, dict[int, str]] = {}
    for comparison in model.get("comparisons", []):
        levels = comparison.get("comparison_levels", [])
        non_null = [level for level in levels if not level.get("is_null_level")]
        by_value = {-1: "null"}
        for i, level in enumerate(non_null):
            by_value[len(non_null) - 1 - i] = level.get("label_for_charts") or level.get("sql_condition")
        labels[comparison["output_column_name"]] = by_value
    return labels


@dataclass
class Prediction:
    pairs: pa.Table
    seconds: float
    scored_pairs: int


def predict(features: pa.Table, model: dict[str, Any] | None, threshold: float) -> Prediction:
    """Score the blocked pairs and keep those at or above `threshold`, each with its breakdown."""
    started = time.perf_counter()
    if model is None or features.num_rows < 2:
        return Prediction(PAIR_SCHEMA.empty_table(), 0.0, 0)
    con = _connection()
    try:
        linker = _linker(features, model, con)
        predictions = linker.inference.predict(threshold_match_probability=threshold)
        name = predictions.physical_name
        scored = int(con.execute(f"select count(*) from {name}").fetchall()[0][0])
        gamma = {c: f"gamma_{c}" for c in COMPARISONS}
        present = {row[0] for row in con.execute(f"describe {name}").fetchall()}
        weights = {
            c: f"mw_{c}" + (f" + coalesce(mw_tf_adj_{c}, 0)" if f"mw_tf_adj_{c}" in present else "")
            for c in COMPARISONS
        }
        table = con.sql(
            f"""
            select
                unique_id_l, unique_id_r, source_name_l, table_name_l, record_id_l,
                source_name_r, table_name_r, record_id_r, match_weight, match_probability,
                {", ".join(f"{gamma[c]} as {c}_gamma" for c in COMPARISONS)},
                {", ".join(f"{weights[c]} as {c}_match_weight" for c in COMPARISONS)},
                to_json(p)::varchar as splink_record
            from {name} as p
            """
        ).to_arrow_table()
    finally:
        con.close()
    labels = _levels(model)
    gammas = {c: table.column(f"{c}_gamma").to_pylist() for c in COMPARISONS}
    ids_l = table.column("unique_id_l").to_pylist()
    ids_r = table.column("unique_id_r").to_pylist()
    columns: dict[str, Any] = {
        "pair_id": [pair_id(a, b) for a, b in zip(ids_l, ids_r, strict=False)],
        **{
            name: table.column(name)
            for name in (
                "unique_id_l",
                "unique_id_r",
                "source_name_l",
                "table_name_l",
                "record_id_l",
                "source_name_r",
                "table_name_r",
                "record_id_r",
                "match_weight",
                "match_probability",
            )
        },
        "names_compatible": names_compatible(gammas),
        "has_independent_evidence": independent_evidence(gammas),
        **{f"{c}_level": [labels[c].get(g, str(g)) for g in gammas[c]] for c in COMPARISONS},
        **{f"{c}_match_weight": table.column(f"{c}_match_weight") for c in COMPARISONS},
        "splink_record": table.column("splink_record"),
    }
    pairs = pa.table(columns).cast(PAIR_SCHEMA)
    return Prediction(pairs, time.perf_counter() - started, scored)


def model_version_from_table(table: pa.Table) -> int | None:
    """The kept version int_identity__match_model scores with, or None when none was trained."""
    for value in table.column("model_version").to_pylist():
        if value is not None:
            return int(value)
    return None


# The column that marks the records whose pairs a build compares (blocking "new against all").
NEW_RECORD_COLUMN = "is_new_record"


def blocking_on_new_records(model: dict[str, Any]) -> dict[str, Any]:
    """The model with each blocking rule split in two, so that only pairs touching a new record are
    compared: the rule with a new record on the left, and with a new one on the right and an old one on
    the left. Each half filters one side of the join, which DuckDB applies before joining; the halves of
    a rule pair the same records as the rule, restricted to those pairs, so Splink's rule order (a pair
    is counted under the first rule that pairs it) is unchanged."""
    restricted = json.loads(json.dumps(model))
    rules = []
    for rule in model_blocking_rules(model):
        rules.append(f"({rule}) and l.{NEW_RECORD_COLUMN}")
        rules.append(f"({rule}) and r.{NEW_RECORD_COLUMN} and not l.{NEW_RECORD_COLUMN}")
    restricted["blocking_rules_to_generate_predictions"] = rules
    return restricted


@dataclass
class Candidates:
    """The comparison vectors a build computed: every blocked pair (full) or those touching a new or
    changed record."""

    pairs: pa.Table
    seconds: float
    full: bool
    new_records: int


def candidate_pairs(
    features: pa.Table, model: dict[str, Any] | None, version: int | None, new_ids: list[str] | None
) -> Candidates:
    """The comparison vector (gamma per comparison) of every blocked pair that touches a record in
    `new_ids`, or of every blocked pair when `new_ids` is None. A pair's vector depends on its two
    records and the model's comparisons and blocking rules only (term frequencies and m and u enter
    later, in int_identity__match_pairs), so the vectors of pairs between unchanged records stay valid
    for as long as the model version does."""
    import pyarrow.compute as pc

    started = time.perf_counter()
    full = new_ids is None
    count = features.num_rows if new_ids is None else len(new_ids)
    if model is None or version is None or features.num_rows < 2 or count == 0:
        return Candidates(CANDIDATE_SCHEMA.empty_table(), 0.0, full, count)
    scoring = model if new_ids is None else blocking_on_new_records(model)
    con = _connection()
    try:
        keyed = with_blocking_keys(features)
        is_new = (
            pa.array([True] * keyed.num_rows)
            if new_ids is None
            else pc.is_in(keyed.column("unique_id"), value_set=pa.array(new_ids, pa.string()))
        )
        from splink import DuckDBAPI, Linker

        frame = DuckDBAPI(connection=con).register(
            keyed.append_column(NEW_RECORD_COLUMN, is_new), dataset_display_name="person_records"
        )
        linker = Linker(frame, settings(scoring), log_level=logging.ERROR)
        name = linker.inference.predict().physical_name
        gammas = ", ".join(f"gamma_{c} as {c}_gamma" for c in COMPARISONS)
        con.execute(
            f"""
            create temporary table candidate_vectors as
            select
                'pair_' || substr(md5(unique_id_l || '|' || unique_id_r), 1, 16) as pair_id,
                unique_id_l, unique_id_r, {gammas}
            from {name}
            """
        )
        # The guards read a few levels only: judged once per distinct combination of them.
        read = ["first_name", "date_of_birth", "phone", "street", "postcode"]
        patterns = con.sql(f"select distinct {', '.join(f'{c}_gamma' for c in read)} from candidate_vectors")
        pattern_table = patterns.to_arrow_table()
        by_comparison = {c: pattern_table.column(f"{c}_gamma").to_pylist() for c in read}
        judged = pattern_table.append_column(
            "names_compatible", pa.array(names_compatible(by_comparison), pa.bool_())
        ).append_column("has_independent_evidence", pa.array(independent_evidence(by_comparison), pa.bool_()))
        con.register("judged", judged)
        on = " and ".join(f"v.{c}_gamma = j.{c}_gamma" for c in read)
        pairs = con.sql(
            f"""
            select
                v.pair_id, v.unique_id_l, v.unique_id_r, {version} as model_version,
                {", ".join(f"v.{c}_gamma" for c in COMPARISONS)},
                j.names_compatible, j.has_independent_evidence
            from candidate_vectors as v
            inner join judged as j on {on}
            """
        ).to_arrow_table()
    finally:
        con.close()
    return Candidates(pairs.cast(CANDIDATE_SCHEMA), time.perf_counter() - started, full, count)


def score_candidates(
    features: pa.Table, changes: pa.Table, model_table: pa.Table, kept_table: pa.Table
) -> Candidates:
    """The pairs this build compares (int_identity__match_compared), which int_identity__match_candidates
    adds to the kept ones. Every blocked pair when the kept vectors cannot be used: a full refresh
    (int_identity__match_model_kept's policy; the incremental model is then rebuilt), no model, or another model version than the one the kept pairs
    were compared under (`scored_model_version` of int_identity__match_record_changes: a retrained
    model may block on other rules and changed matching rules retrain); else only the pairs touching
    a new or changed record. The model's pre-hook (macros/identity/drop_stale_match_candidates.sql)
    drops the kept pairs by the same tests, so the table always holds each blocked pair once."""
    _, policy = kept_from_table(kept_table)
    full_refresh = policy.full_refresh
    model = model_from_table(model_table)
    version = model_version_from_table(model_table)
    scored = {v for v in changes.column("scored_model_version").to_pylist() if v is not None}
    full = full_refresh or version is None or scored != {version}
    if full:
        log.info("identity matching compares every blocked pair (model version %s)", version)
        return candidate_pairs(features, model, version, None)
    fresh = [
        uid
        for uid, current, unchanged in zip(
            changes.column("unique_id").to_pylist(),
            changes.column("is_current").to_pylist(),
            changes.column("is_unchanged").to_pylist(),
            strict=True,
        )
        if current and not unchanged
    ]
    log.info("identity matching compares the pairs of %d new or changed records", len(fresh))
    return candidate_pairs(features, model, version, fresh)


# Comparison levels (gamma) the fixed rules below read; -1 is null (a missing value) everywhere.
FIRST_NAME_CLOSE = 2  # 6 exact, 5 nickname, 4 swapped, 3 swapped with a typo, 2 Jaro-Winkler >= 0.92;
# 1 Jaro-Winkler >= 0.80, 0 else
DOB_CONFIRMS = 4  # 5 exact, 4 one typo
DOB_WITHIN_A_MONTH = 3  # 2 within a year, 1 within a generation (15 years)
DOB_A_GENERATION_APART = 0  # more than 15 years apart
PHONE_DIFFERENT = 0  # 2 exact, 1 one digit
STREET_SIMILAR = 1  # 2 exact, 1 Jaro-Winkler >= 0.9
POSTCODE_EXACT = 2  # 1 one typo


def names_compatible(gammas: dict[str, list[int]]) -> list[bool]:
    """The guard for probabilistic links: a pair is refused (left for review) only on evidence
    *against* it, never for a missing field, whatever its probability:
    - a household: the first names differ (beyond a close typo), and the dates of birth do not
      confirm the pair (equal, or but for a typo); a missing first name is no disagreement;
    - dates of birth, both given, a generation apart (a parent and a child of one name). Dates apart
      by a typo (a digit, two digits swapped, day and month swapped) confirm a pair, and dates apart
      by more than that but less than a generation are weighed by the model, not refused here;
    - phones, both given, that differ (more than one digit).
    Household members share an address, a phone and a surname; these keep them apart."""
    first = gammas["first_name"]
    dob = gammas["date_of_birth"]
    phone = gammas["phone"]
    return [
        (f >= FIRST_NAME_CLOSE or f == -1 or d >= DOB_CONFIRMS)
        and d != DOB_A_GENERATION_APART
        and p != PHONE_DIFFERENT
        for f, d, p in zip(first, dob, phone, strict=True)
    ]


def independent_evidence(gammas: dict[str, list[int]]) -> list[bool]:
    """Whether a pair agrees on something besides the name and the email: the street (exactly or
    but for a typo) or the postcode, the phone (exactly or but for one digit), or the date of birth
    (within a month). Email addresses are mostly made from names (anna.nowak@…), so a similar
    email next to an equal name is not independent evidence, and Fellegi-Sunter would count the
    name twice; such pairs wait for review instead of linking on their own."""
    return [
        street >= STREET_SIMILAR or postcode == POSTCODE_EXACT or phone >= 1 or dob >= DOB_WITHIN_A_MONTH
        for street, postcode, phone, dob in zip(
            gammas["street"], gammas["postcode"], gammas["phone"], gammas["date_of_birth"], strict=True
        )
    ]


def waterfall_html(model: dict[str, Any], splink_record: dict[str, Any]) -> str:
    """Splink's waterfall chart of one scored pair, as a standalone HTML page (libraries inlined)."""
    from splink.internals.charts import WaterfallChart
    from splink.internals.waterfall_chart import records_to_waterfall_data

    settings_obj = settings(model).get_settings("duckdb")
    data = records_to_waterfall_data([splink_record], settings_obj, hide_details=False)
    return str(WaterfallChart(data, filter_nulls=False).to_html(inline=True))
