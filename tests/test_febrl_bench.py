"""The scoring behind `tessera bench febrl` and pairs completeness, on tiny hand-made inputs (the FEBRL
lists themselves are read only by the benchmark, never by a test)."""

from __future__ import annotations

import datetime as dt

import pyarrow as pa
import pytest

from orchestration.identity.febrl_bench import cluster_pairs, load_dataset, person_of, scores, truth_pairs
from orchestration.identity.matching import BLOCKING_RULES, FEATURE_COLUMNS, blocking_completeness


def test_rec_ids_name_their_person() -> None:
    assert person_of("rec-12-org") == person_of("rec-12-dup-3") == "12"
    with pytest.raises(ValueError):
        person_of("12-org")


def test_held_out_lists_are_never_loaded() -> None:
    for dataset in ("febrl3", "febrl4"):
        with pytest.raises(ValueError, match="not a development dataset"):
            load_dataset(dataset)


def test_pairwise_scores_and_clusters() -> None:
    truth = pa.table({"record_id": ["a", "b", "c", "d", "e"], "person_id": ["1", "1", "1", "2", "3"]})
    true = truth_pairs(truth)
    assert true == {("a", "b"), ("a", "c"), ("b", "c")}
    links = {("a", "b"), ("b", "c"), ("d", "e")}
    assert cluster_pairs(links) == {("a", "b"), ("a", "c"), ("b", "c"), ("d", "e")}
    direct = scores(links, true)
    assert (direct["precision"], direct["recall"]) == (
        pytest.approx(2 / 3, abs=1e-6),
        pytest.approx(2 / 3, abs=1e-6),
    )
    clustered = scores(cluster_pairs(links), true)
    assert clustered["recall"] == 1.0 and clustered["precision"] == 0.75
    assert scores(set(), true)["recall"] == 0.0 and scores(set(), true)["f1"] == 0.0


def _row(uid: str, first: str | None, last: str | None, dob: dt.date | None, postcode: str | None) -> dict:
    row = dict.fromkeys(FEATURE_COLUMNS)
    row.update(
        unique_id=uid, record_id=uid, first_name_key=first, last_name_key=last, first_name_formal=first,
        last_name_formal=last, date_of_birth=dob, postcode=postcode,
    )  # fmt: skip
    return row


def test_pairs_completeness_counts_what_blocking_compares() -> None:
    rows = [
        _row("a1", "georgia", "pettigrove", dt.date(1970, 1, 2), "4011"),
        _row("a2", "pettigrove", "georgia", None, None),  # swapped, nothing else: still compared
        _row("b1", "lachlan", "berry", dt.date(1999, 2, 19), "4814"),
        _row("b2", "zac", "berey", dt.date(1999, 2, 19), "4814"),  # replaced first name, misspelt surname
        _row("c1", "luke", "purdon", dt.date(1983, 10, 24), "2260"),
        _row("c2", "mark", "smith", dt.date(1950, 1, 1), "7000"),  # nothing in common: not compared
    ]
    schema = pa.schema([(c, pa.date32() if c == "date_of_birth" else pa.string()) for c in FEATURE_COLUMNS])
    features = pa.Table.from_pylist(rows, schema=schema)
    persons = pa.table(
        {"unique_id": [r["unique_id"] for r in rows], "person_id": ["a", "a", "b", "b", "c", "c"]}
    )
    rules = [rule.sql for rule in BLOCKING_RULES]
    assert blocking_completeness(features, persons, rules) == (2, 3)


def test_pairs_a_generation_apart_bound_what_the_guard_allows() -> None:
    """Dates of birth more than 15 years of 365.25 days apart (the model's level) are counted; a pair
    just within that, a missing date, or a pair outside the truth are not."""
    from orchestration.identity.febrl_bench import generation_apart

    born = {
        "a": dt.date(1950, 1, 1),
        "b": dt.date(1990, 6, 1),  # 40 years after a: a generation apart
        "c": dt.date(1964, 12, 31),  # 5,478 days after a: within 15 * 365.25 days
        "d": None,
        "e": dt.date(2001, 1, 1),
    }
    features = pa.table({"record_id": list(born), "date_of_birth": list(born.values())})
    true = {("a", "b"), ("a", "c"), ("a", "d"), ("b", "c")}  # ("a", "e") is apart but not a true pair
    found = generation_apart(features, true)
    assert found["true_pairs_a_generation_apart"] == 2  # (a, b) and (b, c): 25.4 years
    assert found["ceiling_keeping_the_generation_guard"] == {"recall": 0.5, "f1": round(2 * 0.5 / 1.5, 6)}
