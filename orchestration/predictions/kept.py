"""The prediction classifiers, trained apart from the build: kept between builds and reused until due.

A build used to fit the churn and purchase-in-30-days classifiers on every run. Now a fitted pair is
kept as a version in prediction_model_store (like the matching model, identity_match_model_store),
and each build scores with the latest version unless `retrain_reason` names a reason to train anew:

- none is kept yet (`first`), a full refresh, or a retrain asked for (var predictions_retrain, env
  TESSERA_PREDICTIONS_RETRAIN, which `tessera run --retrain` sets);
- the models' definition changed (`definition_fingerprint`: the feature list, the hyperparameters,
  the model version constant and the scikit-learn version);
- the customers the classifiers train on moved by more than a share (var
  predictions_retrain_row_drift), or the version is older than var predictions_retrain_max_age_days.

A version is kept only when at least one classifier could be fitted; one that could not (too few rows
of an outcome) is tried again when the training customers drift past the share, not on every build.

The stored form is skops (not pickle): loading it creates only the types skops trusts plus the one
scikit-learn type the boosted trees need (`TRUSTED_TYPES`); a stored model naming any other type is
refused (`UnsafeModelError`) rather than run. BG/NBD and Gamma-Gamma are not kept: they use no labels
and are refitted on each build's purchases by design (orchestration/predictions/clv.py).
"""

from __future__ import annotations

import base64
import hashlib
import json
import zipfile
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import pyarrow as pa

if TYPE_CHECKING:
    from sklearn.ensemble import HistGradientBoostingClassifier

# scikit-learn and skops are imported where a model is fitted, stored or loaded, not with this module:
# together they take about a second and a half to import, which every `tessera` command (the CLI imports
# the build, which names the scoring step) and every build that stores or loads no model would pay.

# What loading a kept classifier may create besides skops's own trusted types (numpy arrays, dicts, …).
TRUSTED_TYPES = ("sklearn.ensemble._hist_gradient_boosting.predictor.TreePredictor",)

CLASSIFIERS = ("churn", "purchase_30d")

# int_prediction_models: one row, the classifiers this build scores with and where they came from.
MODELS_SCHEMA = pa.schema(
    [
        ("model_version", pa.int64()),
        ("trained_at", pa.timestamp("us")),
        ("train_reason", pa.string()),
        ("model_decision", pa.string()),
        ("builds_used", pa.int64()),
        ("training_rows", pa.int64()),
        ("churn_training_rows", pa.int64()),
        ("purchase_30d_training_rows", pa.int64()),
        ("training_seconds", pa.float64()),
        ("definition_fingerprint", pa.string()),
        ("churn_model", pa.string()),
        ("purchase_30d_model", pa.string()),
    ]
)


class UnsafeModelError(ValueError):
    """A kept model names a type that loading must not create; it is refused, not run."""


@dataclass(frozen=True)
class RetrainPolicy:
    """When a kept version is due for a retrain (vars predictions_retrain, predictions_retrain_row_drift,
    predictions_retrain_max_age_days in dbt_project.yml; a full refresh retrains too)."""

    requested: bool = False
    full_refresh: bool = False
    row_drift: float = 0.2
    max_age_days: float = 30.0


@dataclass(frozen=True)
class KeptModels:
    """The latest version in prediction_model_store, as the last build left it."""

    version: int
    trained_at: datetime
    reason: str
    builds_used: int
    training_rows: int
    churn_training_rows: int
    purchase_30d_training_rows: int
    seconds: float
    fingerprint: str | None
    churn_model: str | None
    purchase_30d_model: str | None


def definition_fingerprint(features: Sequence[str], params: dict[str, Any], model_version: str) -> str:
    """A digest of what the classifiers are: a kept version made under another definition is retrained."""
    described = {
        "model_version": model_version,
        "features": list(features),
        "params": {k: params[k] for k in sorted(params)},
        "scikit_learn": _sklearn_version(),
    }
    return hashlib.sha256(json.dumps(described, sort_keys=True, default=str).encode()).hexdigest()[:16]


def _sklearn_version() -> str:
    import sklearn

    return str(sklearn.__version__)


def dump_classifier(model: HistGradientBoostingClassifier | None) -> str | None:
    """A fitted classifier as text (base64 of skops' compressed zip), for a warehouse string column."""
    if model is None:
        return None
    import skops.io as sio

    data = sio.dumps(model, compression=zipfile.ZIP_DEFLATED, compresslevel=9)
    return base64.b64encode(data).decode("ascii")


def load_classifier(text: str | None) -> HistGradientBoostingClassifier | None:
    """A kept classifier back; refuses (UnsafeModelError) a stored form that needs an untrusted type."""
    if not text:
        return None
    import skops.io as sio
    from sklearn.ensemble import HistGradientBoostingClassifier

    data = base64.b64decode(text.encode("ascii"), validate=True)
    untrusted = sorted(set(sio.get_untrusted_types(data=data)) - set(TRUSTED_TYPES))
    if untrusted:
        raise UnsafeModelError(f"a kept prediction model names untrusted types {untrusted}; retrain it")
    model = sio.loads(data, trusted=list(TRUSTED_TYPES))
    if not isinstance(model, HistGradientBoostingClassifier):
        raise UnsafeModelError(f"a kept prediction model is a {type(model).__name__}, not a classifier")
    return model


def policy_and_kept(table: pa.Table) -> tuple[RetrainPolicy, KeptModels | None]:
    """int_prediction_model_kept's one row: the retrain policy and the latest kept version, if any."""
    rows = table.to_pylist()
    if len(rows) != 1:
        raise ValueError(f"int_prediction_model_kept must have exactly one row, not {len(rows)}")
    row = rows[0]
    policy = RetrainPolicy(
        requested=bool(row["retrain_requested"]),
        full_refresh=bool(row["full_refresh"]),
        row_drift=float(row["row_drift"]),
        max_age_days=float(row["max_age_days"]),
    )
    if row["model_version"] is None:
        return policy, None
    trained_at = row["trained_at"]
    if isinstance(trained_at, str):
        trained_at = datetime.fromisoformat(trained_at)
    kept = KeptModels(
        version=int(row["model_version"]),
        trained_at=trained_at.replace(tzinfo=None),
        reason=str(row["train_reason"] or ""),
        builds_used=int(row["builds_used"] or 0),
        training_rows=int(row["training_rows"] or 0),
        churn_training_rows=int(row["churn_training_rows"] or 0),
        purchase_30d_training_rows=int(row["purchase_30d_training_rows"] or 0),
        seconds=float(row["training_seconds"] or 0.0),
        fingerprint=row["definition_fingerprint"] or None,
        churn_model=row["churn_model"] or None,
        purchase_30d_model=row["purchase_30d_model"] or None,
    )
    return policy, kept


def now() -> datetime:
    return datetime.now(UTC).replace(tzinfo=None)


def retrain_reason(
    kept: KeptModels | None,
    policy: RetrainPolicy,
    training_rows: int,
    fingerprint: str,
    at: datetime | None = None,
) -> str | None:
    """Why this build must fit a new version, or None when the kept one may score it.
    `training_rows`: the customers with history in this build's training snapshot."""
    if kept is None:
        return "first"
    if policy.full_refresh:
        return "full refresh"
    if policy.requested:
        return "forced"
    if kept.fingerprint != fingerprint:
        return "model definition changed"
    change = abs(training_rows - kept.training_rows) / max(kept.training_rows, 1)
    if change > policy.row_drift:
        return (
            f"drift: training customers {kept.training_rows} -> {training_rows} "
            f"({change:.0%} > {policy.row_drift:.0%})"
        )
    age_days = ((at or now()) - kept.trained_at).total_seconds() / 86400
    if age_days > policy.max_age_days:
        return f"drift: age {age_days:.1f} days > {policy.max_age_days:g}"
    return None


def models_row(**values: Any) -> pa.Table:
    """int_prediction_models' one row."""
    return pa.Table.from_pylist([values], schema=MODELS_SCHEMA)
