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

Out of core (issue #16): the feature snapshots are read as record batches (a `FeatureReader`), never as
one table. Scoring passes over them twice: once over the few columns the value models fit on (one
snapshot's repeat buyers, four numbers each), then batch by batch, scoring each and handing it on as a
stream the warehouse writes (`score_batches`), so Python holds one batch of features at a time. Every
score depends on its own row and on models fitted before the second pass only, so the batches give the
scores the whole table gives. Training reads only its own rows and columns (`read_training`).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from threadpoolctl import threadpool_limits

from orchestration.predictions import clv, kept
from orchestration.warehouse.batches import BATCH_ROWS

if TYPE_CHECKING:
    from sklearn.ensemble import HistGradientBoostingClassifier

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


# The columns the value models fit on (one snapshot's repeat buyers).
VALUE_COLUMNS = (
    "repeat_purchases",
    "days_first_to_last_purchase",
    "days_first_purchase_to_cutoff",
    "repeat_purchase_mean_value",
)
# What the first pass reads: the value models' inputs, and what the retrain policy counts.
SURVEY_COLUMNS = ("customer_id", "snapshot_name", "has_history", *VALUE_COLUMNS)
# What training reads: the classifiers' features and labels, and who they are fitted on.
TRAINING_COLUMNS = (
    "customer_id",
    "snapshot_name",
    "is_evaluation_holdout",
    "has_history",
    "is_active_customer",
    *FEATURES,
    "label_churned",
    "label_purchased_30_days",
)

# Reads these columns of the feature snapshots as record batches (a DuckDB relation's
# to_arrow_reader, a warehouse's read_build_table_batches, or a table's to_reader).
FeatureReader = Callable[[Sequence[str]], pa.RecordBatchReader]


class PredictionInputError(ValueError):
    """The feature table is not what the models need (a missing column, no training rows)."""


def _classifier() -> HistGradientBoostingClassifier:
    # Imported here, not with the module: see orchestration/predictions/kept.py.
    from sklearn.ensemble import HistGradientBoostingClassifier

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


@dataclass(frozen=True)
class ValueModels:
    """BG/NBD and Gamma-Gamma fitted on one snapshot's repeat buyers, and the spend for a buyer the
    Gamma-Gamma gives none (the mean repeat-purchase value of those with repeat purchases)."""

    bgnbd: clv.BetaGeoParams
    spend: clv.GammaGammaParams
    fallback_spend: float


def _fit_value_models(buyers: pa.Table) -> ValueModels | None:
    """The value models of one snapshot, from its buyers' VALUE_COLUMNS in customer order; None when
    they cannot be fitted (logged)."""
    freq = _floats(buyers["repeat_purchases"])
    if len(freq) < 10:
        log.warning("customer value: only %d customers with a purchase; not predicted", len(freq))
        return None
    weeks = 7.0
    recency = _floats(buyers["days_first_to_last_purchase"]) / weeks
    age = _floats(buyers["days_first_purchase_to_cutoff"]) / weeks
    monetary = np.nan_to_num(_floats(buyers["repeat_purchase_mean_value"]))
    try:
        bgnbd = clv.fit_bgnbd(freq, recency, age)
        spend_model = clv.fit_gamma_gamma(freq, monetary)
    except clv.FitError as error:
        # Visible, not fatal: model_metrics shows scored_rows = 0 for value_12m, the rest still publishes.
        log.warning("customer value: %s; not predicted", error)
        return None
    log.info("BG/NBD %s; Gamma-Gamma %s", bgnbd, spend_model)
    return ValueModels(bgnbd, spend_model, float(np.nanmean(monetary[freq > 0])))


def _customer_value(
    models: ValueModels | None, table: pa.Table
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(mask, P(alive), expected purchases, expected value) over the next 12 months per row."""
    x = _floats(table["repeat_purchases"])
    n = len(x)
    alive, purchases, value = np.zeros(n), np.zeros(n), np.zeros(n)
    if models is None:
        return np.zeros(n, dtype=bool), alive, purchases, value
    buyers = ~np.isnan(x)
    weeks = 7.0
    freq = x[buyers]
    recency = _floats(table["days_first_to_last_purchase"])[buyers] / weeks
    age = _floats(table["days_first_purchase_to_cutoff"])[buyers] / weeks
    monetary = np.nan_to_num(_floats(table["repeat_purchase_mean_value"])[buyers])
    alive[buyers] = clv.bgnbd_probability_alive(models.bgnbd, freq, recency, age)
    purchases[buyers] = clv.bgnbd_expected_purchases(models.bgnbd, VALUE_HORIZON_WEEKS, freq, recency, age)
    spend = clv.gamma_gamma_expected_spend(models.spend, freq, monetary)
    value[buyers] = purchases[buyers] * np.nan_to_num(spend, nan=models.fallback_spend)
    return buyers, alive, purchases, value


def check_features(table: pa.Table) -> None:
    missing = [c for c in REQUIRED if c not in table.column_names]
    if missing:
        raise PredictionInputError(f"the feature table lacks columns {missing}")
    _check_snapshots(set(table["snapshot_name"].to_pylist()), table.num_rows)


def _check_snapshots(snapshots: set[str], rows: int) -> None:
    if rows and not {"training", "scoring"} <= snapshots:
        raise PredictionInputError(
            f"the feature table needs training and scoring snapshots, has {sorted(snapshots)}"
        )


def table_reader(table: pa.Table, batch_rows: int = BATCH_ROWS) -> FeatureReader:
    """A FeatureReader over a table in memory (the benchmark, the unit tests)."""

    def read(columns: Sequence[str]) -> pa.RecordBatchReader:
        return table.select(list(columns)).to_reader(max_chunksize=batch_rows)

    return read


def score_features(
    table: pa.Table,
    timings: dict[str, float] | None = None,
    models: pa.Table | None = None,
    batch_rows: int = BATCH_ROWS,
) -> pa.Table:
    """Score both snapshots of a table in memory; see the module docstring. With `models`
    (int_prediction_models' row) the classifiers come from it; without, they are fitted here on the
    training snapshot (the benchmark and the unit tests). Seconds spent per stage go into `timings` when
    given (for `tessera bench predictions`). The rows come out as `score_batches` scores them, in batches
    of `batch_rows`: the evaluation set, then the current one, each in customer order."""
    started = time.monotonic()
    timings = {} if timings is None else timings
    table = _prepared(table)
    if models is None:
        with threadpool_limits(limits=1):
            fitted = _fit_classifiers(table, timings)
        classifiers = (fitted.churn, fitted.purchase_30d, MODEL_VERSION)
    else:
        classifiers = _kept_classifiers(models)
    scored = _score_batches(table_reader(table, batch_rows), classifiers, timings, None).read_all()
    timings["total_seconds"] = time.monotonic() - started
    return scored


def score_batches(
    read: FeatureReader,
    models: pa.Table,
    timings: dict[str, float] | None = None,
    surveyed: Survey | None = None,
) -> pa.RecordBatchReader:
    """int_customer_features_scored as a stream: the value models are fitted first (`survey`, unless
    given), then each batch of features is scored as it is read, with the classifiers of `models`
    (int_prediction_models' row). The caller writes the stream (dbt-duckdb scans it into the table;
    outside dbt, the warehouse's write_build_table_batches), so Python holds one batch at a time.

    One OpenMP thread: dbt runs another model beside this one, and on a busy machine OpenMP's
    spinning threads slow both down many times over."""
    return _score_batches(read, _kept_classifiers(models), {} if timings is None else timings, surveyed)


Classifiers = tuple["HistGradientBoostingClassifier | None", "HistGradientBoostingClassifier | None", str]


def _score_batches(
    read: FeatureReader, classifiers: Classifiers, timings: dict[str, float], surveyed: Survey | None
) -> pa.RecordBatchReader:
    surveyed = survey(read) if surveyed is None else surveyed
    timings["value_models_seconds"] = surveyed.seconds
    timings["classifiers_score_seconds"] = 0.0
    # Opened here, not when the stream is first read: a missing column fails now, and on DuckDB the
    # query runs on the model's connection before dbt-duckdb writes from another.
    features = read(REQUIRED)
    return pa.RecordBatchReader.from_batches(
        OUTPUT_SCHEMA, _scored(features, classifiers, surveyed.value_models, timings)
    )


def _scored(
    features: pa.RecordBatchReader,
    classifiers: Classifiers,
    value_models: Mapping[str, ValueModels | None],
    timings: dict[str, float],
) -> Iterator[pa.RecordBatch]:
    for batch in features:
        with threadpool_limits(limits=1):
            part = _normalised(pa.Table.from_batches([batch]))
            scored = [
                _score_part(rows, name, classifiers, value_models[snapshot], timings)
                for name, snapshot in SCORED_SETS
                if (rows := part.filter(pc.equal(part["snapshot_name"], snapshot))).num_rows
            ]
        for table in scored:
            yield from table.to_batches()


# The scored set each snapshot gives, in output order.
SCORED_SETS = (("evaluation", "training"), ("current", "scoring"))


@dataclass(frozen=True)
class Survey:
    """What the first pass over the features found: the training snapshot's rows with history (what
    the retrain policy compares), and the value models fitted on each snapshot (None: not predicted)."""

    training_rows: int
    value_models: dict[str, ValueModels | None]
    seconds: float


def survey(read: FeatureReader) -> Survey:
    """The first pass: reads SURVEY_COLUMNS batch by batch, keeps each snapshot's repeat buyers (four
    numbers and the customer id each), and fits the value models on them in customer order, as the
    whole table would. Peak memory: one batch, and the buyers' values."""
    started = time.monotonic()
    rows = training_rows = 0
    snapshots: set[str] = set()
    buyers: dict[str, list[pa.Table]] = {snapshot: [] for _, snapshot in SCORED_SETS}
    for batch in read(SURVEY_COLUMNS):
        part = _normalised(pa.Table.from_batches([batch]))
        rows += part.num_rows
        snapshots |= {name for name in pc.unique(part["snapshot_name"]).to_pylist() if name is not None}
        has_purchase = ~np.isnan(_floats(part["repeat_purchases"]))
        for snapshot, found in buyers.items():
            in_snapshot = _bools(pc.equal(part["snapshot_name"], snapshot))
            if snapshot == "training":
                training_rows += int((in_snapshot & _bools(part["has_history"])).sum())
            kept_rows = in_snapshot & has_purchase
            if kept_rows.any():
                kept_part = part.filter(pa.array(kept_rows))
                found.append(
                    pa.table(
                        {
                            "customer_id": kept_part["customer_id"],
                            **{name: pa.array(_floats(kept_part[name])) for name in VALUE_COLUMNS},
                        }
                    )
                )
    _check_snapshots(snapshots, rows)
    value_models = {}
    for snapshot, found in buyers.items():
        table = (
            pa.concat_tables(found).sort_by("customer_id")
            if found
            else pa.table({name: pa.array([], pa.float64()) for name in VALUE_COLUMNS})
        )
        with threadpool_limits(limits=1):
            value_models[snapshot] = _fit_value_models(table)
    return Survey(training_rows, value_models, time.monotonic() - started)


def read_training(read: FeatureReader) -> pa.Table:
    """What the classifiers are fitted on, and no more: TRAINING_COLUMNS of the training snapshot's
    customers with history outside the evaluation holdout, in customer order (as `_fit_classifiers`
    takes them from the whole table). Peak memory: those rows, and one batch."""
    reader = read(TRAINING_COLUMNS)
    parts = [_normalised(reader.schema.empty_table())]
    for batch in reader:
        part = _normalised(pa.Table.from_batches([batch]))
        fitted_on = (
            _bools(pc.equal(part["snapshot_name"], "training"))
            & _bools(part["has_history"])
            & ~_bools(part["is_evaluation_holdout"])
        )
        parts.append(part.filter(pa.array(fitted_on)))
    return pa.concat_tables(parts).sort_by("customer_id")


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
    table: pa.Table | FeatureReader,
    kept_table: pa.Table,
    timings: dict[str, float] | None = None,
    training_rows: int | None = None,
) -> pa.Table:
    """int_prediction_models: the latest kept classifiers when still fit to score this build
    (kept.retrain_reason is None), else both fitted anew on the training snapshot as a new version.
    A version is kept only when at least one classifier could be fitted (model_version is null
    otherwise: too few rows, as `_fit_classifier` logs).

    `table` may be a FeatureReader of the feature snapshots, with `training_rows` (the training
    snapshot's rows with history, counted where the data is): then the snapshots are read only when a
    new version is trained, and then only the rows and columns the classifiers are fitted on
    (`read_training`); a build that reuses the kept one pulls no features into Python."""
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
            table = read_training(table)
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


def _kept_classifiers(models: pa.Table) -> Classifiers:
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
    """Columns cast to the types used below: a warehouse driver may hand over an all-null column untyped.
    Only the columns present are cast (a pass reads the columns it needs)."""
    types = {
        **dict.fromkeys(_BOOLEANS, pa.bool_()),
        "customer_id": pa.string(),
        "snapshot_name": pa.string(),
        "cutoff_at": pa.timestamp("us"),
    }
    for name, wanted in types.items():
        index = table.schema.get_field_index(name)
        if index >= 0:
            table = table.set_column(index, name, pc.cast(table[name], wanted))
    return table


def _training_rows(table: pa.Table) -> int:
    """The training snapshot's rows with history: what the retrain policy compares."""
    training = table.filter(pc.equal(table["snapshot_name"], "training"))
    return int(_bools(training["has_history"]).sum())


def _prepared(table: pa.Table) -> pa.Table:
    check_features(table)
    table = _normalised(table)
    # A fixed row order: the same rows in any order (DuckDB, Postgres) give the same models. The training
    # snapshot first, so that its scores (the evaluation set) come out first.
    return table.take(pc.sort_indices(table, [("snapshot_name", "descending"), ("customer_id", "ascending")]))


def _matrix(part: pa.Table) -> np.ndarray:
    return (
        np.column_stack([_floats(part[name]) for name in FEATURES])
        if part.num_rows
        else np.zeros((0, len(FEATURES)))
    )


def _score_part(
    part: pa.Table,
    name: str,
    classifiers: Classifiers,
    value_models: ValueModels | None,
    timings: dict[str, float],
) -> pa.Table:
    """The scores of `part`, rows of one snapshot, as the scored set `name`."""
    churn_model, purchase_model, version = classifiers
    X = _matrix(part)
    part_history = _bools(part["has_history"])
    part_active = _bools(part["is_active_customer"]) & part_history
    started = time.monotonic()
    buyers, alive, purchases, value = _customer_value(value_models, part)
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
    return pa.table(
        {field.name: pc.cast(columns[field.name], field.type) for field in OUTPUT_SCHEMA},
        schema=OUTPUT_SCHEMA,
    )
