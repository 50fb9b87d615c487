"""Predictions: the BG/NBD and Gamma-Gamma maths, the classifiers' inputs and outputs, the leakage guard,
and the published customer_predictions / model_metrics tables."""

from __future__ import annotations

import dataclasses
import datetime as dt
import shutil

import duckdb
import numpy as np
import pyarrow as pa
import pytest

from orchestration.predictions import clv
from orchestration.predictions.scoring import FEATURES, PredictionInputError, score_features

# --- BG/NBD and Gamma-Gamma against data simulated from known parameters -------------------------

TRUE_BGNBD = clv.BetaGeoParams(r=0.25, alpha=4.0, a=0.8, b=2.5)


@pytest.fixture(scope="module")
def simulated():
    rng = np.random.default_rng(7)
    T = rng.uniform(30, 40, 4000)
    x, t_x, later = clv.simulate_bgnbd(TRUE_BGNBD, T, rng, future=39)
    return x, t_x, T, later, clv.fit_bgnbd(x, t_x, T)


def test_bgnbd_recovers_known_parameters(simulated):
    *_, fit = simulated
    assert fit.r == pytest.approx(TRUE_BGNBD.r, rel=0.15)
    assert fit.alpha == pytest.approx(TRUE_BGNBD.alpha, rel=0.2)
    # a and b are less well identified by 40 weeks of data (fewer dropouts observed).
    assert fit.a == pytest.approx(TRUE_BGNBD.a, rel=0.35)
    assert fit.b == pytest.approx(TRUE_BGNBD.b, rel=0.35)


def test_bgnbd_fit_beats_the_true_parameters_only_slightly(simulated):
    """The maximum-likelihood estimate has at least the true parameters' likelihood, but not by much."""
    x, t_x, T, _, fit = simulated
    at_fit = clv.bgnbd_log_likelihood(fit, x, t_x, T).sum()
    at_truth = clv.bgnbd_log_likelihood(TRUE_BGNBD, x, t_x, T).sum()
    assert at_truth <= at_fit < at_truth + 20


def test_bgnbd_conditional_expectation_matches_the_simulated_future(simulated):
    x, t_x, T, later, fit = simulated
    expected = clv.bgnbd_expected_purchases(fit, 39, x, t_x, T)
    assert expected.sum() == pytest.approx(later.sum(), rel=0.1)
    for k in range(4):
        group = x == k
        assert group.sum() > 100
        assert expected[group].mean() == pytest.approx(later[group].mean(), rel=0.2), k


def test_bgnbd_probability_alive_properties():
    params = clv.BetaGeoParams(r=0.3, alpha=5.0, a=0.7, b=2.0)
    # No repeat purchase: BG/NBD cannot have seen a dropout yet.
    assert clv.bgnbd_probability_alive(params, [0], [0], [30]) == pytest.approx([1.0])
    # Same history, the last purchase longer ago: less likely alive, fewer purchases expected.
    alive = clv.bgnbd_probability_alive(params, [5, 5, 5], [29, 20, 5], [30, 30, 30])
    assert alive[0] > alive[1] > alive[2]
    expected = clv.bgnbd_expected_purchases(params, 52, [5, 5, 5], [29, 20, 5], [30, 30, 30])
    assert expected[0] > expected[1] > expected[2] >= 0


def test_bgnbd_refuses_impossible_histories():
    with pytest.raises(ValueError, match="t_x <= T"):
        clv.fit_bgnbd([1, 2], [5, 50], [10, 40])
    with pytest.raises(ValueError):
        clv.fit_bgnbd([0], [3], [10])
    with pytest.raises(clv.FitError):
        clv.fit_bgnbd([], [], [])


def test_gamma_gamma_recovers_mean_spend_and_shrinks_toward_it():
    rng = np.random.default_rng(3)
    p, q, v = 6.0, 4.0, 15.0
    n = 3000
    nu = rng.gamma(q, 1 / v, n)
    x = rng.integers(1, 10, n)
    m = np.array([rng.gamma(p, 1 / nu[i], x[i]).mean() for i in range(n)])
    fit = clv.fit_gamma_gamma(x, m)
    assert fit.p * fit.v / (fit.q - 1) == pytest.approx(p * v / (q - 1), rel=0.05)
    assert fit.q == pytest.approx(q, rel=0.25)
    population = fit.p * fit.v / (fit.q - 1)
    one, many, none = clv.gamma_gamma_expected_spend(fit, [1, 50, 0], [100.0, 100.0, 0.0])
    # A weighted mean of the population's and the customer's own: more purchases, more own weight.
    assert population < one < many < 100.0
    assert abs(many - 100.0) < abs(one - 100.0) / 10
    assert none == pytest.approx(population)
    with pytest.raises(clv.FitError):
        clv.fit_gamma_gamma([1, 0], [10.0, 0.0])


# --- score_features on a synthetic feature table with planted signal -------------------------------


def _feature_table(n: int = 3000, seed: int = 5) -> pa.Table:
    """Two snapshots of n customers whose churn and purchase depend on recency and recent activity."""
    rng = np.random.default_rng(seed)
    rows: dict[str, list] = {name: [] for name in ("customer_id", "snapshot_name")}
    columns: dict[str, list] = {}
    for snapshot, cutoff in (("training", dt.datetime(2025, 11, 1)), ("scoring", dt.datetime(2026, 11, 1))):
        recency = rng.integers(0, 365, n).astype(float)
        activity = rng.poisson(np.where(recency < 60, 6, 1))
        orders = rng.poisson(1.5, n)
        data = {name: np.zeros(n) for name in FEATURES}
        data["days_since_last_activity"] = recency
        data["activities_90_days"] = activity
        data["orders_count"] = orders
        data["tenure_days"] = recency + rng.integers(0, 400, n)
        data["avg_nps_score"] = np.where(rng.random(n) < 0.5, np.nan, rng.integers(0, 11, n))
        churn_p = 1 / (1 + np.exp(-(recency - 150) / 40))
        buy_p = np.clip(0.02 + 0.03 * activity, 0, 0.9)
        first_to_last = rng.integers(0, 200, n).astype(float)
        rows["customer_id"] += [f"c{i:05d}" for i in range(n)]
        rows["snapshot_name"] += [snapshot] * n
        extra = {
            "is_evaluation_holdout": rng.random(n) < 0.25,
            "has_history": np.arange(n) % 50 != 1,
            "is_active_customer": np.arange(n) % 50 > 1,
            "repeat_purchases": np.where(orders > 0, orders - 1, np.nan),
            "days_first_to_last_purchase": np.where(
                orders > 0, np.where(orders > 1, first_to_last, 0), np.nan
            ),
            "days_first_purchase_to_cutoff": np.where(orders > 0, first_to_last + recency + 1, np.nan),
            "repeat_purchase_mean_value": np.where(orders > 1, rng.gamma(4, 10, n), np.nan),
            "label_churned": rng.random(n) < churn_p if snapshot == "training" else [None] * n,
            "label_purchased_30_days": rng.random(n) < buy_p if snapshot == "training" else [None] * n,
            "label_revenue_365_days": orders * 40.0 if snapshot == "training" else [None] * n,
            "cutoff_at": [cutoff] * n,
        }
        for name, values in {**data, **extra}.items():
            columns.setdefault(name, []).extend(list(values))
    table = {**rows, **columns}
    return pa.table(
        {
            name: pa.array(
                [None if isinstance(v, float) and np.isnan(v) else v for v in values],
                type=pa.bool_()
                if name.startswith(("is_", "has_", "label_churned", "label_purchased"))
                else None,
            )
            for name, values in table.items()
        }
    )


@pytest.fixture(scope="module")
def synthetic_scores():
    features = _feature_table()
    return features, score_features(features)


def test_scores_find_the_planted_signal(synthetic_scores):
    from sklearn.metrics import roc_auc_score

    _, scores = synthetic_scores
    held_out = scores.filter(
        pa.compute.and_(pa.compute.equal(scores["scored_set"], "evaluation"), scores["is_evaluation_holdout"])
    ).to_pylist()
    churn = [
        (r["label_churned"], r["churn_probability"]) for r in held_out if r["churn_probability"] is not None
    ]
    buy = [
        (r["label_purchased_30_days"], r["purchase_30d_probability"])
        for r in held_out
        if r["purchase_30d_probability"] is not None
    ]
    assert roc_auc_score(*zip(*churn, strict=True)) > 0.75
    assert roc_auc_score(*zip(*buy, strict=True)) > 0.65
    current = scores.filter(pa.compute.equal(scores["scored_set"], "current")).to_pydict()
    assert len(current["customer_id"]) == 3000
    assert all(0 <= p <= 1 for p in current["churn_probability"] if p is not None)
    assert all(v is None for v in current["label_churned"])
    # Customers who never bought get no value prediction; buyers get a non-negative one.
    values = [v for v in current["predicted_value_12m"] if v is not None]
    assert 0 < len(values) < 3000 and min(values) >= 0


def test_scores_are_deterministic_and_independent_of_row_order(synthetic_scores):
    features, scores = synthetic_scores
    shuffled = features.take(np.random.default_rng(1).permutation(features.num_rows))
    again = score_features(shuffled)
    key = [("scored_set", "ascending"), ("customer_id", "ascending")]
    assert again.sort_by(key).equals(scores.sort_by(key))


def test_scores_refuse_malformed_feature_tables(synthetic_scores):
    features, _ = synthetic_scores
    with pytest.raises(PredictionInputError, match="days_since_last_activity"):
        score_features(features.drop_columns(["days_since_last_activity"]))
    only_scoring = features.filter(pa.compute.equal(features["snapshot_name"], "scoring"))
    with pytest.raises(PredictionInputError, match="training and scoring"):
        score_features(only_scoring)


def test_customers_outside_a_population_get_no_score(synthetic_scores):
    """Churn scores active customers only; purchase scores anyone with history (c00000: inactive,
    c00001: no history at all)."""
    _, scores = synthetic_scores
    rows = scores.to_pylist()
    for row in rows:
        number = int(row["customer_id"][1:])
        assert (row["churn_probability"] is None) == (number % 50 <= 1), row
        assert (row["purchase_30d_probability"] is None) == (number % 50 == 1), row


def test_tiny_and_untyped_inputs_score_to_nulls():
    """A world too small to train on (or a driver handing over untyped all-null columns) builds, unscored."""
    from orchestration.predictions.scoring import REQUIRED

    assert score_features(pa.table({c: pa.array([], type=pa.null()) for c in REQUIRED})).num_rows == 0
    columns = {c: pa.array([None, None], type=pa.null()) for c in REQUIRED}
    columns["customer_id"] = pa.array(["a", "a"])
    columns["snapshot_name"] = pa.array(["training", "scoring"])
    rows = score_features(pa.table(columns)).to_pylist()
    assert [r["scored_set"] for r in rows] == ["evaluation", "current"]
    assert all(r["churn_probability"] is None and r["predicted_value_12m"] is None for r in rows)


def test_a_small_world_or_an_empty_feature_trains_without_crashing():
    """A company without survey answers, or a 100-customer world, still builds: models train when they can."""
    features = _feature_table(n=3000, seed=9)
    empty = pa.array([None] * features.num_rows, type=pa.float64())
    no_nps = features.set_column(features.schema.get_field_index("avg_nps_score"), "avg_nps_score", empty)
    scored = score_features(no_nps).to_pylist()
    assert any(r["churn_probability"] is not None for r in scored)

    tiny = features.filter(pa.array([i % 3000 < 60 for i in range(features.num_rows)]))
    rows = score_features(tiny).to_pylist()
    assert len(rows) == tiny.num_rows
    assert all(r["churn_probability"] is None for r in rows)


# --- the leakage guard on the real feature model, and the published tables ------------------------


def test_rows_after_the_training_cutoff_change_no_training_feature(published, settings, session_dir):
    """Plant activity, orders and tickets between the training cut-off and the extract date for every
    customer, rebuild the feature snapshots: no training feature moves, the labels do."""
    from orchestration.build.pipeline import run_dbt

    copy = session_dir / "leakage" / "tessera.duckdb"
    copy.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(settings.published_db, copy)
    con = duckdb.connect(str(copy))
    training_cutoff = con.execute(
        "select max(cutoff_at) from int_customer_features_snapshotted where snapshot_name = 'training'"
    ).fetchone()[0]
    feature_columns = [
        c
        for (c,) in con.execute(
            "select column_name from information_schema.columns "
            "where table_name = 'int_customer_features_snapshotted' and column_name not like 'label_%' "
            "order by ordinal_position"
        ).fetchall()
    ]
    before_sql = (
        f"select {', '.join(feature_columns)} from int_customer_features_snapshotted "
        "where snapshot_name = 'training' order by customer_id"
    )
    before = con.execute(before_sql).fetchall()
    labels_before = con.execute(
        "select sum(label_revenue_365_days), sum(label_purchased_30_days::int) "
        "from int_customer_features_snapshotted where snapshot_name = 'training'"
    ).fetchone()
    # events and orders are tables in the published file: add a copy of every row, moved to just after
    # the cut-off (new ids), as if every customer had come back.
    con.execute(
        "insert into events select event_id || '-late', source_name, customer_id, event_channel, event_name, "
        "anonymous_id, product_id, product_category, order_id, revenue, utm_source, utm_campaign, "
        "? + interval 2 day, loaded_at from events where customer_id is not null",
        [training_cutoff],
    )
    con.execute(
        "insert into orders select * replace (order_id || '-late' as order_id, ? + interval 3 day as ordered_at) "
        "from orders where customer_id is not null",
        [training_cutoff],
    )
    con.close()
    results = run_dbt(
        dataclasses.replace(settings, build_db=copy), ["run", "-s", "int_customer_features_snapshotted"]
    )
    statuses = {r["unique_id"].split(".")[-1]: r["status"] for r in results["results"]}
    assert statuses["int_customer_features_snapshotted"] == "success", statuses
    con = duckdb.connect(str(copy), read_only=True)
    after = con.execute(before_sql).fetchall()
    labels_after = con.execute(
        "select sum(label_revenue_365_days), sum(label_purchased_30_days::int) "
        "from int_customer_features_snapshotted where snapshot_name = 'training'"
    ).fetchone()
    con.close()
    assert len(before) > 100
    assert after == before
    assert labels_after[0] > labels_before[0] and labels_after[1] > labels_before[1]


def test_published_predictions_and_metrics(published, settings):
    con = duckdb.connect(str(settings.published_db), read_only=True)
    customers = con.execute("select count(*) from customers").fetchone()[0]
    n, churn_scored, buyers_scored, bad_percentiles = con.execute(
        "select count(*), count(churn_probability), count(predicted_value_12m), "
        "count(*) filter (where churn_percentile not between 0 and 100) from customer_predictions"
    ).fetchone()
    assert n == customers and churn_scored > 0 and buyers_scored > 0 and bad_percentiles == 0
    metrics = {
        (model, metric, decile): value
        for model, metric, decile, value in con.execute(
            "select model_name, metric_name, decile, metric_value from model_metrics"
        ).fetchall()
    }
    for model in ("churn", "purchase_30d", "value_12m"):
        assert (model, "lift", 1) in metrics and (model, "calibration_observed", 10) in metrics, model
        assert metrics[(model, "scored_rows", None)] > 0
    # The planted signal is found even in the small test world (the 100k figures are in the docs).
    assert metrics[("churn", "auc", None)] > 0.6
    assert metrics[("purchase_30d", "auc", None)] > 0.6
    assert metrics[("value_12m", "lift", 1)] > 1.5
    training_cutoff, scored_at = con.execute(
        "select max(training_cutoff_at), max(scored_at) from model_metrics"
    ).fetchone()
    assert (scored_at - training_cutoff).days == 365
    audiences = {
        a for (a,) in con.execute("select distinct audience_name from audience_memberships").fetchall()
    }
    members = con.execute(
        "select count(*) filter (where is_member), count(*) filter (where is_member and not "
        "(is_likely_churner and has_open_support_ticket)) from audience_likely_churners_open_tickets"
    ).fetchone()
    con.close()
    assert members[1] == 0
    assert members[0] == 0 or "likely_churners_open_tickets" in audiences


def test_the_scores_streamed_in_batches_are_those_of_the_whole_table(published, settings, session_dir):
    """Out of core (issue #16): the dbt Python model streamed its scores; the whole feature table scored
    at once gives the same, and so does the step outside dbt on a copy of the build, reading the
    features and writing the scores 50 rows at a time (and training its classifiers from batches)."""
    from orchestration.predictions.external import FEATURES_MODEL, SCORES_MODEL, score_outside_dbt
    from tests.test_batched_scoring import ONE_BATCH, assert_same_scores

    con = duckdb.connect(str(settings.published_db), read_only=True)
    features = con.execute(f"select * from {FEATURES_MODEL}").to_arrow_table()
    models = con.execute("select * from int_prediction_models").to_arrow_table()
    streamed = con.execute(f"select * from {SCORES_MODEL}").to_arrow_table()
    con.close()
    assert features.num_rows > 2000
    assert_same_scores(streamed, score_features(features, models=models, batch_rows=ONE_BATCH))

    copy = session_dir / "batched_scoring" / "tessera.duckdb"
    copy.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(settings.published_db, copy)
    outside = dataclasses.replace(settings, build_db=copy)
    assert score_outside_dbt(outside, batch_rows=50)["rows"] == streamed.num_rows
    con = duckdb.connect(str(copy), read_only=True)
    (trained,) = con.execute("select model_decision from int_prediction_models__python").fetchall()
    rescored = con.execute(f"select * from {SCORES_MODEL}__python").to_arrow_table()
    con.close()
    assert trained == ("trained",)
    assert_same_scores(rescored, streamed)


def test_the_next_build_scores_with_the_kept_classifiers(published, settings, session_dir, monkeypatch):
    """The main world trained version 1 and kept it; a later build of the prediction models on a copy
    of the published file reuses it (nothing fitted, the same scores, the use counted in the store), and
    a retrain asked for (TESSERA_PREDICTIONS_RETRAIN, which `tessera run --retrain` sets) fits version 2."""
    from orchestration.build.pipeline import run_dbt

    con = duckdb.connect(str(settings.published_db), read_only=True)
    trained = con.execute(
        "select model_version, train_reason, model_decision, builds_used from int_prediction_models"
    ).fetchall()
    stored = con.execute("select model_version, last_decision from prediction_model_store").fetchall()
    scores_sql = (
        "select customer_id, scored_set, churn_probability, purchase_30d_probability "
        "from int_customer_features_scored order by 1, 2"
    )
    scores = con.execute(scores_sql).fetchall()
    con.close()
    assert trained == [(1, "first", "trained", 1)] and stored == [(1, "trained")]

    copy = session_dir / "kept_predictions" / "tessera.duckdb"
    copy.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(settings.published_db, copy)
    rebuilt = dataclasses.replace(settings, build_db=copy)
    selection = ["run", "-s", "int_prediction_model_kept+", "--exclude", "customer_predictions+"]
    statuses = {r["unique_id"].split(".")[-1]: r["status"] for r in run_dbt(rebuilt, selection)["results"]}
    assert set(statuses.values()) == {"success"}, statuses
    assert {"int_prediction_models", "int_customer_features_scored", "prediction_model_store"} <= set(
        statuses
    )
    con = duckdb.connect(str(copy), read_only=True)
    reused = con.execute(
        "select model_version, train_reason, model_decision, builds_used from int_prediction_models"
    ).fetchall()
    store = con.execute(
        "select model_version, last_decision, builds_used from prediction_model_store"
    ).fetchall()
    rescored = con.execute(scores_sql).fetchall()
    con.close()
    assert reused == [(1, "first", "reused", 2)]
    assert store == [(1, "reused", 2)]
    assert rescored == scores

    monkeypatch.setenv("TESSERA_PREDICTIONS_RETRAIN", "true")
    assert {r["status"] for r in run_dbt(rebuilt, selection)["results"]} == {"success"}
    con = duckdb.connect(str(copy), read_only=True)
    forced = con.execute(
        "select model_version, train_reason, model_decision from int_prediction_models"
    ).fetchall()
    versions = con.execute(
        "select model_version, train_reason from prediction_model_store order by 1"
    ).fetchall()
    con.close()
    assert forced == [(2, "forced", "trained")]
    assert versions == [(1, "first"), (2, "forced")]
