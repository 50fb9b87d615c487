"""The prediction classifiers are trained apart from the build (orchestration/predictions/kept.py): a
build reuses the kept version until a reason to retrain, and the stored form loads only trusted types.
On synthetic feature tables, no build (the builds that reuse a kept version: tests/test_train_apart.py)."""

from __future__ import annotations

import datetime as dt
import functools
from typing import Any

import pyarrow as pa
import pytest
import skops.io as sio

from orchestration.predictions import kept
from orchestration.predictions.scoring import TRAINING_COLUMNS, definition, score_features, train_or_reuse
from tests.test_predictions import _feature_table

POLICY = {"retrain_requested": False, "full_refresh": False, "row_drift": 0.2, "max_age_days": 30.0}
STORED = [c for c in kept.MODELS_SCHEMA.names if c not in ("model_decision",)]


def _kept_table(models: pa.Table | None = None, **policy: Any) -> pa.Table:
    """int_prediction_model_kept as the next build would read it after `models` was stored."""
    row: dict[str, Any] = {**POLICY, **policy}
    stored = models.to_pylist()[0] if models is not None else {}
    row.update({column: stored.get(column) for column in STORED})
    return pa.Table.from_pylist([row])


@pytest.fixture(scope="module")
def features() -> pa.Table:
    return _feature_table(n=1200, seed=3)


@pytest.fixture(scope="module")
def first(features) -> pa.Table:
    return train_or_reuse(features, _kept_table())


def test_the_first_build_trains_version_1_and_the_next_reuses_it(features, first):
    (row,) = first.to_pylist()
    assert (row["model_version"], row["train_reason"], row["model_decision"], row["builds_used"]) == (
        1,
        "first",
        "trained",
        1,
    )
    assert row["churn_model"] and row["purchase_30d_model"]
    assert row["training_rows"] == sum(1 for i in range(1200) if i % 50 != 1)
    assert 0 < row["churn_training_rows"] < row["purchase_30d_training_rows"] < row["training_rows"]
    assert row["definition_fingerprint"] == definition()

    again = train_or_reuse(features, _kept_table(first)).to_pylist()[0]
    assert (again["model_version"], again["train_reason"], again["model_decision"], again["builds_used"]) == (
        1,
        "first",
        "reused",
        2,
    )
    assert again["trained_at"] == row["trained_at"] and again["churn_model"] == row["churn_model"]


def test_scores_from_the_kept_version_equal_those_of_the_build_that_trained_it(features, first):
    """The stored form loses nothing: the same classifiers score the same probabilities."""
    reused = train_or_reuse(features, _kept_table(first))
    fresh = score_features(features)
    from_store = score_features(features, models=reused)
    columns = ["customer_id", "scored_set", "churn_probability", "purchase_30d_probability"]
    assert from_store.select(columns).equals(fresh.select(columns))
    assert set(from_store["model_version"].to_pylist()) == {"1"}


def test_a_retrain_asked_for_or_a_full_refresh_makes_a_new_version(features, first):
    forced = train_or_reuse(features, _kept_table(first, retrain_requested=True)).to_pylist()[0]
    assert (forced["model_version"], forced["train_reason"], forced["model_decision"]) == (
        2,
        "forced",
        "trained",
    )
    refreshed = train_or_reuse(features, _kept_table(first, full_refresh=True)).to_pylist()[0]
    assert (refreshed["model_version"], refreshed["train_reason"]) == (2, "full refresh")


def test_a_build_that_reuses_the_kept_version_reads_no_features(features, first):
    """The DuckDB model passes a reader and the count of training rows: a reuse never calls the reader,
    a retrain calls it once, for the training columns only, and trains on what it returns (read in many
    small batches) as on the table itself."""
    calls = []

    def reader(columns) -> pa.RecordBatchReader:
        calls.append(list(columns))
        return features.select(list(columns)).to_reader(max_chunksize=97)

    counted = first.to_pylist()[0]["training_rows"]
    reused = train_or_reuse(reader, _kept_table(first), training_rows=counted).to_pylist()[0]
    assert (reused["model_decision"], reused["builds_used"], calls) == ("reused", 2, [])
    forced = train_or_reuse(reader, _kept_table(first, retrain_requested=True), training_rows=counted)
    assert calls == [list(TRAINING_COLUMNS)]
    assert not {"repeat_purchases", "label_revenue_365_days", "cutoff_at"} & set(calls[0])
    from_table = train_or_reuse(features, _kept_table(first, retrain_requested=True))
    columns = [
        "model_version",
        "train_reason",
        "training_rows",
        "churn_training_rows",
        "purchase_30d_training_rows",
    ]
    assert forced.select(columns).to_pylist() == from_table.select(columns).to_pylist()
    scored = ["customer_id", "churn_probability", "purchase_30d_probability"]
    assert (
        score_features(features, models=forced)
        .select(scored)
        .equals(score_features(features, models=from_table).select(scored))
    )
    with pytest.raises(ValueError, match="training_rows"):
        train_or_reuse(reader, _kept_table(first))


def test_too_few_rows_keep_no_version():
    tiny = _feature_table(n=60, seed=4)
    (row,) = train_or_reuse(tiny, _kept_table()).to_pylist()
    assert row["model_version"] is None and row["model_decision"] == "too few rows"
    assert row["churn_model"] is None and row["purchase_30d_model"] is None
    scored = score_features(tiny, models=train_or_reuse(tiny, _kept_table()))
    assert set(scored["churn_probability"].to_pylist()) == {None}


NOW = dt.datetime(2026, 12, 1)


def _version(**changes: Any) -> kept.KeptModels:
    values: dict[str, Any] = {
        "version": 3,
        "trained_at": NOW - dt.timedelta(days=1),
        "reason": "first",
        "builds_used": 4,
        "training_rows": 1000,
        "churn_training_rows": 600,
        "purchase_30d_training_rows": 700,
        "seconds": 2.0,
        "fingerprint": "abc",
        "churn_model": "x",
        "purchase_30d_model": "y",
    }
    return kept.KeptModels(**{**values, **changes})


def test_the_retrain_policy_names_its_reason():
    policy = kept.RetrainPolicy(row_drift=0.2, max_age_days=30)
    assert kept.retrain_reason(_version(), policy, 1000, "abc", NOW) is None
    assert kept.retrain_reason(None, policy, 1000, "abc", NOW) == "first"
    assert kept.retrain_reason(_version(), kept.RetrainPolicy(requested=True), 1000, "abc", NOW) == "forced"
    assert kept.retrain_reason(_version(), kept.RetrainPolicy(full_refresh=True), 1000, "abc", NOW) == (
        "full refresh"
    )
    assert kept.retrain_reason(_version(), policy, 1000, "other", NOW) == "model definition changed"
    # 200 of 1,000 more is 20%, not past the threshold; 201 is.
    assert kept.retrain_reason(_version(), policy, 1200, "abc", NOW) is None
    assert kept.retrain_reason(_version(), policy, 1201, "abc", NOW) == (
        "drift: training customers 1000 -> 1201 (20% > 20%)"
    )
    assert kept.retrain_reason(_version(), policy, 700, "abc", NOW) == (
        "drift: training customers 1000 -> 700 (30% > 20%)"
    )
    old = _version(trained_at=NOW - dt.timedelta(days=31))
    assert kept.retrain_reason(old, policy, 1000, "abc", NOW) == "drift: age 31.0 days > 30"


def test_the_definition_fingerprint_follows_features_and_hyperparameters():
    base = kept.definition_fingerprint(["a", "b"], {"max_iter": 200}, "m1")
    assert base == kept.definition_fingerprint(["a", "b"], {"max_iter": 200}, "m1")
    assert base != kept.definition_fingerprint(["a", "b", "c"], {"max_iter": 200}, "m1")
    assert base != kept.definition_fingerprint(["a", "b"], {"max_iter": 300}, "m1")
    assert base != kept.definition_fingerprint(["a", "b"], {"max_iter": 200}, "m2")


def test_a_stored_model_naming_an_untrusted_type_is_refused_not_run():
    """skops records every type it would create; one outside the trusted set (here a callable) is refused
    before anything is built from it, as is any stored object that is not the classifier."""
    import base64

    hostile = base64.b64encode(sio.dumps(functools.partial(print, "run me"))).decode()
    with pytest.raises(kept.UnsafeModelError, match="untrusted types"):
        kept.load_classifier(hostile)
    not_a_model = base64.b64encode(sio.dumps({"weights": [1, 2]})).decode()
    with pytest.raises(kept.UnsafeModelError, match="not a classifier"):
        kept.load_classifier(not_a_model)
    assert kept.load_classifier(None) is None
