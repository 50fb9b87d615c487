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
