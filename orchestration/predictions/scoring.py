"""Train and score the three customer predictions from the point-in-time feature snapshots.

Input: the rows of int_customer_features_snapshotted (two snapshots per customer: `training`, as of
the cut-off, with labels observed after it; `scoring`, as of the extract date, without labels).
Output: int_customer_features_scored, one row per customer and set:

  evaluation  the training snapshot scored by the classifiers (fitted on the 75% of customers that
              are not in the evaluation holdout, by this build or, when kept, an earlier one), with the
              observed labels; the SQL mart model_metrics turns these into AUC, lift and calibration;
  current     the scoring snapshot scored by the same classifiers, and by BG/NBD + Gamma-Gamma
              refitted on the purchases up to the extract date (those models need no labels).

The classifiers come from int_prediction_models (`train_or_reuse`: the kept version, or a new one;
orchestration/predictions/kept.py says when a version is retrained).

Churn is predicted for active customers (any activity in the year before the snapshot); purchase
and value for customers with any activity. Everyone else gets nulls: there is nothing to score.
The classifiers are scikit-learn gradient-boosted trees with a fixed random_state, so a build is
reproducible from its inputs.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from sklearn.ensemble import HistGradientBoostingClassifier
from threadpoolctl import threadpool_limits

from orchestration.predictions import clv, kept

log = logging.getLogger(__name__)

MODEL_VERSION = "tessera-predictions-1"
RANDOM_STATE = 20261101
VALUE_HORIZON_WEEKS = 365 / 7

# Every column the classifiers read; all come from the `history` side of the feature model.
FEATURES = (
    "tenure_days",
    "days_since_last_activity",
    "days_since_last_order",
    "orders_count",
    "orders_90_days",
    "orders_365_days",
    "revenue_total",
    "revenue_365_days",
    "activities_30_days",
    "activities_90_days",
    "activities_90_to_180_days",
    "page_views_90_days",
    "product_views_90_days",
    "cart_adds_90_days",
    "store_purchases_365_days",
    "email_sends_90_days",
    "email_opens_90_days",
    "email_clicks_90_days",
    "email_unsubscribes",
    "support_tickets_90_days",
    "support_tickets_365_days",
    "avg_nps_score",
    "avg_csat_score",
)
REQUIRED = (
    "customer_id",
    "snapshot_name",
    "is_evaluation_holdout",
    "has_history",
    "is_active_customer",
    *FEATURES,
    "repeat_purchases",
    "days_first_to_last_purchase",
    "days_first_purchase_to_cutoff",
    "repeat_purchase_mean_value",
    "label_churned",
    "label_purchased_30_days",
    "label_revenue_365_days",
    "cutoff_at",
)

OUTPUT_SCHEMA = pa.schema(
    [
        ("customer_id", pa.string()),
        ("scored_set", pa.string()),
        ("is_evaluation_holdout", pa.bool_()),
        ("churn_probability", pa.float64()),
        ("purchase_30d_probability", pa.float64()),
        ("probability_alive", pa.float64()),
        ("predicted_purchases_12m", pa.float64()),
        ("predicted_value_12m", pa.float64()),
        ("label_churned", pa.bool_()),
        ("label_purchased_30_days", pa.bool_()),
        ("label_revenue_365_days", pa.float64()),
        ("model_version", pa.string()),
        ("cutoff_at", pa.timestamp("us")),
    ]
)


class PredictionInputError(ValueError):
    """The feature table is not what the models need (a missing column, no training rows)."""


def _classifier() -> HistGradientBoostingClassifier:
    return HistGradientBoostingClassifier(
        learning_rate=0.05,
        max_iter=200,
        max_leaf_nodes=15,
        min_samples_leaf=40,
        l2_regularization=1.0,
        early_stopping=False,
        random_state=RANDOM_STATE,
    )


def _floats(column: pa.ChunkedArray | pa.Array) -> np.ndarray:
    """A numeric column as float64 with NaN for null."""
    return np.asarray(pc.cast(column, pa.float64()).to_numpy(zero_copy_only=False), dtype=np.float64)


def _bools(column: pa.ChunkedArray | pa.Array) -> np.ndarray:
    """A boolean column as bool, null counting as false."""
    return np.asarray(pc.fill_null(column, False).to_numpy(zero_copy_only=False), dtype=bool)


def _nullable(values: np.ndarray, mask: np.ndarray) -> pa.Array:
    """float64 values, null where `mask` is false."""
    return pa.array(np.where(mask, values, 0.0), type=pa.float64(), mask=~mask)


# Fewer training rows than two leaves' worth, or fewer than this many of either outcome, train no model:
# a tree with min_samples_leaf=40 cannot split, and its "probabilities" would be the base rate.
MIN_ROWS_PER_OUTCOME = 10


def _fit_classifier(name: str, X: np.ndarray, y: np.ndarray) -> HistGradientBoostingClassifier | None:
    positives = int(y.sum()) if len(y) else 0
    smallest = min(positives, len(y) - positives)
    if len(y) < 2 * _classifier().min_samples_leaf or smallest < MIN_ROWS_PER_OUTCOME:
        log.warning(
            "%s: too few training rows (%d, of which %d in the rarer outcome); not predicted",
            name,
            len(y),
            smallest,
        )
        return None
    # A feature with no value in any training row (a source the company does not have, e.g. no survey
    # answers) carries no signal; sklearn's binning cannot bin an empty column, so it trains as constant.
    X = np.where(np.isnan(X).all(axis=0), 0.0, X)
    model = _classifier().fit(X, y)
    log.info("%s: trained on %d rows (positive rate %.3f)", name, len(y), y.mean())
    return model


def _predict(model: HistGradientBoostingClassifier | None, X: np.ndarray, mask: np.ndarray) -> pa.Array:
    values = np.zeros(len(X))
    if model is not None and mask.any():
        values[mask] = model.predict_proba(X[mask])[:, 1]
    return _nullable(values, mask & (model is not None))


def _customer_value(table: pa.Table) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(mask, P(alive), expected purchases, expected value) over the next 12 months per row."""
    x = _floats(table["repeat_purchases"])
    buyers = ~np.isnan(x)
    n = len(x)
    alive, purchases, value = np.zeros(n), np.zeros(n), np.zeros(n)
    if buyers.sum() < 10:
        log.warning("customer value: only %d customers with a purchase; not predicted", int(buyers.sum()))
        return np.zeros(n, dtype=bool), alive, purchases, value
    weeks = 7.0
    freq = x[buyers]
    recency = _floats(table["days_first_to_last_purchase"])[buyers] / weeks
    age = _floats(table["days_first_purchase_to_cutoff"])[buyers] / weeks
    monetary = np.nan_to_num(_floats(table["repeat_purchase_mean_value"])[buyers])
    try:
        bgnbd = clv.fit_bgnbd(freq, recency, age)
        spend_model = clv.fit_gamma_gamma(freq, monetary)
    except clv.FitError as error:
        # Visible, not fatal: model_metrics shows scored_rows = 0 for value_12m, the rest still publishes.
        log.warning("customer value: %s; not predicted", error)
        return np.zeros(n, dtype=bool), alive, purchases, value
    log.info("BG/NBD %s; Gamma-Gamma %s", bgnbd, spend_model)
    alive[buyers] = clv.bgnbd_probability_alive(bgnbd, freq, recency, age)
    purchases[buyers] = clv.bgnbd_expected_purchases(bgnbd, VALUE_HORIZON_WEEKS, freq, recency, age)
    spend = clv.gamma_gamma_expected_spend(spend_model, freq, monetary)
    value[buyers] = purchases[buyers] * np.nan_to_num(spend, nan=float(np.nanmean(monetary[freq > 0])))
    return buyers, alive, purchases, value


def check_features(table: pa.Table) -> None:
    missing = [c for c in REQUIRED if c not in table.column_names]
    if missing:
        raise PredictionInputError(f"the feature table lacks columns {missing}")
    snapshots = set(table["snapshot_name"].to_pylist())
    if table.num_rows and not {"training", "scoring"} <= snapshots:
        raise PredictionInputError(
            f"the feature table needs training and scoring snapshots, has {sorted(snapshots)}"
        )


def score_features(
    table: pa.Table, timings: dict[str, float] | None = None, models: pa.Table | None = None
) -> pa.Table:
    """Score both snapshots; see the module docstring. With `models` (int_prediction_models' row) the
    classifiers come from it; without, they are fitted here on the training snapshot (the benchmark and
    the unit tests). Seconds spent per stage go into `timings` when given (for `tessera bench predictions`).

    One OpenMP thread: dbt runs another model beside this one, and on a busy machine OpenMP's
    spinning threads slow both down many times over."""
    started = time.monotonic()
    timings = {} if timings is None else timings
    with threadpool_limits(limits=1):
        table = _prepared(table)
        if models is None:
            fitted = _fit_classifiers(table, timings)
            churn_model, purchase_model, label = fitted.churn, fitted.purchase_30d, MODEL_VERSION
        else:
            churn_model, purchase_model, label = _kept_classifiers(models)
        scored = _score_features(table, churn_model, purchase_model, label, timings)
    timings["total_seconds"] = time.monotonic() - started
    return scored


@dataclass
class Fitted:
    churn: HistGradientBoostingClassifier | None
    purchase_30d: HistGradientBoostingClassifier | None
    churn_rows: int
    purchase_30d_rows: int
    training_rows: int
    seconds: float


def _fit_classifiers(table: pa.Table, timings: dict[str, float]) -> Fitted:
    """Both classifiers, fitted on the training snapshot's customers outside the evaluation holdout."""
    training = table.filter(pc.equal(table["snapshot_name"], "training"))
    X = _matrix(training)
    history = _bools(training["has_history"])
    active = _bools(training["is_active_customer"]) & history
    fit_rows = ~_bools(training["is_evaluation_holdout"])
    churned = _bools(training["label_churned"])
    purchased = _bools(training["label_purchased_30_days"])
    started = time.monotonic()
    churn = _fit_classifier("churn", X[active & fit_rows], churned[active & fit_rows])
    purchase = _fit_classifier("purchase_30d", X[history & fit_rows], purchased[history & fit_rows])
    seconds = time.monotonic() - started
    timings["classifiers_train_seconds"] = seconds
    return Fitted(
        churn,
        purchase,
        int((active & fit_rows).sum()),
        int((history & fit_rows).sum()),
        int(history.sum()),
        seconds,
    )


def definition() -> str:
    """The fingerprint of the classifiers' definition (orchestration/predictions/kept.py)."""
    return kept.definition_fingerprint(FEATURES, _classifier().get_params(), MODEL_VERSION)


def train_or_reuse(
    table: pa.Table | Callable[[], pa.Table],
    kept_table: pa.Table,
    timings: dict[str, float] | None = None,
    training_rows: int | None = None,
) -> pa.Table:
    """int_prediction_models: the latest kept classifiers when still fit to score this build
    (kept.retrain_reason is None), else both fitted anew on the training snapshot as a new version.
    A version is kept only when at least one classifier could be fitted (model_version is null
    otherwise: too few rows, as `_fit_classifier` logs).

    `table` may be a function that reads the feature snapshots, with `training_rows` (the training
    snapshot's rows with history, counted where the data is): then the snapshots are read only when a
    new version is trained, and a build that reuses the kept one pulls no features into Python."""
    timings = {} if timings is None else timings
    with threadpool_limits(limits=1):
        policy, previous = kept.policy_and_kept(kept_table)
        if isinstance(table, pa.Table):
            table = _prepared(table)
            training_rows = _training_rows(table)
        elif training_rows is None:
            raise ValueError("a features reader needs training_rows")
        fingerprint = definition()
        reason = kept.retrain_reason(previous, policy, training_rows, fingerprint)
        if reason is None and previous is not None:
            log.info(
                "predictions reuse kept model version %d (trained %s)", previous.version, previous.trained_at
            )
            return kept.models_row(
                model_version=previous.version,
                trained_at=previous.trained_at,
                train_reason=previous.reason,
                model_decision="reused",
                builds_used=previous.builds_used + 1,
                training_rows=previous.training_rows,
                churn_training_rows=previous.churn_training_rows,
                purchase_30d_training_rows=previous.purchase_30d_training_rows,
                training_seconds=previous.seconds,
                definition_fingerprint=previous.fingerprint,
                churn_model=previous.churn_model,
                purchase_30d_model=previous.purchase_30d_model,
            )
        log.info("predictions train a new model version: %s", reason)
        if not isinstance(table, pa.Table):
            table = _prepared(table())
            training_rows = _training_rows(table)
        fitted = _fit_classifiers(table, timings)
        trained = fitted.churn is not None or fitted.purchase_30d is not None
        return kept.models_row(
            model_version=((previous.version if previous else 0) + 1) if trained else None,
            trained_at=kept.now(),
            train_reason=reason,
            model_decision="trained" if trained else "too few rows",
            builds_used=1,
            training_rows=training_rows,
            churn_training_rows=fitted.churn_rows,
            purchase_30d_training_rows=fitted.purchase_30d_rows,
            training_seconds=fitted.seconds,
            definition_fingerprint=fingerprint,
            churn_model=kept.dump_classifier(fitted.churn),
            purchase_30d_model=kept.dump_classifier(fitted.purchase_30d),
        )


def _kept_classifiers(
    models: pa.Table,
) -> tuple[HistGradientBoostingClassifier | None, HistGradientBoostingClassifier | None, str]:
    rows = models.to_pylist()
    if len(rows) != 1:
        raise PredictionInputError(f"int_prediction_models must have exactly one row, not {len(rows)}")
    row = rows[0]
    label = str(row["model_version"]) if row["model_version"] is not None else MODEL_VERSION
    return kept.load_classifier(row["churn_model"]), kept.load_classifier(row["purchase_30d_model"]), label


_BOOLEANS = (
    "is_evaluation_holdout",
    "has_history",
    "is_active_customer",
    "label_churned",
    "label_purchased_30_days",
)


def _normalised(table: pa.Table) -> pa.Table:
    """Columns cast to the types used below: a warehouse driver may hand over an all-null column untyped."""
    for name in _BOOLEANS:
        table = table.set_column(table.schema.get_field_index(name), name, pc.cast(table[name], pa.bool_()))
    for name in ("customer_id", "snapshot_name"):
        table = table.set_column(table.schema.get_field_index(name), name, pc.cast(table[name], pa.string()))
    return table.set_column(
        table.schema.get_field_index("cutoff_at"),
        "cutoff_at",
        pc.cast(table["cutoff_at"], pa.timestamp("us")),
    )


def _training_rows(table: pa.Table) -> int:
    """The training snapshot's rows with history: what the retrain policy compares."""
    training = table.filter(pc.equal(table["snapshot_name"], "training"))
    return int(_bools(training["has_history"]).sum())


def _prepared(table: pa.Table) -> pa.Table:
    check_features(table)
    table = _normalised(table)
    # A fixed row order: the same rows in any order (DuckDB, Postgres) give the same models.
    return table.take(pc.sort_indices(table, [("snapshot_name", "ascending"), ("customer_id", "ascending")]))


def _matrix(part: pa.Table) -> np.ndarray:
    return (
        np.column_stack([_floats(part[name]) for name in FEATURES])
        if part.num_rows
        else np.zeros((0, len(FEATURES)))
    )


def _score_features(
    table: pa.Table,
    churn_model: HistGradientBoostingClassifier | None,
    purchase_model: HistGradientBoostingClassifier | None,
    version: str,
    timings: dict[str, float],
) -> pa.Table:
    training = table.filter(pc.equal(table["snapshot_name"], "training"))
    current = table.filter(pc.equal(table["snapshot_name"], "scoring"))
    timings["value_models_seconds"] = timings["classifiers_score_seconds"] = 0.0

    parts = []
    for name, part in (("evaluation", training), ("current", current)):
        X = _matrix(part)
        part_history = _bools(part["has_history"])
        part_active = _bools(part["is_active_customer"]) & part_history
        started = time.monotonic()
        buyers, alive, purchases, value = _customer_value(part)
        timings["value_models_seconds"] += time.monotonic() - started
        started = time.monotonic()
        churn_scores = _predict(churn_model, X, part_active)
        purchase_scores = _predict(purchase_model, X, part_history)
        timings["classifiers_score_seconds"] += time.monotonic() - started
        columns: Mapping[str, pa.Array | pa.ChunkedArray] = {
            "customer_id": part["customer_id"],
            "scored_set": pa.array([name] * part.num_rows, type=pa.string()),
            "is_evaluation_holdout": part["is_evaluation_holdout"],
            "churn_probability": churn_scores,
            "purchase_30d_probability": purchase_scores,
            "probability_alive": _nullable(alive, buyers),
            "predicted_purchases_12m": _nullable(purchases, buyers),
            "predicted_value_12m": _nullable(value, buyers),
            "label_churned": part["label_churned"],
            "label_purchased_30_days": part["label_purchased_30_days"],
            "label_revenue_365_days": part["label_revenue_365_days"],
            "model_version": pa.array([version] * part.num_rows, type=pa.string()),
            "cutoff_at": part["cutoff_at"],
        }
        parts.append(
            pa.table(
                {field.name: pc.cast(columns[field.name], field.type) for field in OUTPUT_SCHEMA},
                schema=OUTPUT_SCHEMA,
            )
        )
    return pa.concat_tables(parts)
