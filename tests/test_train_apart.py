"""The matching model is trained apart from the build (docs/identity.md, "When models are retrained"):
a second build of the same data reuses the kept model (no training ran, as the recorded metadata
says) and links the same records; a forced retrain, a full refresh, drift in the person records,
other comparison columns or a new source train a new version, with the reason recorded in
identity_match_model_store and model_metrics. On DuckDB (dbt Python model) and Postgres (the Python
step between dbt invocations). A retrain asked for (TESSERA_IDENTITY_RETRAIN) is tested on the
DuckDB build of tests/test_probabilistic.py that asks for one; the policy itself at the end here."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pyarrow as pa
import pytest

from orchestration.build.pipeline import build
from orchestration.identity.matching import (
    FEATURE_COLUMNS,
    KeptModel,
    RetrainPolicy,
    comparison_columns,
    retrain_reason,
    rules_fingerprint,
    source_names,
)
from orchestration.warehouse.registry import get_warehouse
from tests.conftest import require_postgres
from tests.parity import assert_same_outcome, probabilistic_outcome
from tests.test_probabilistic import P3_FIRST_LAYER, P3_SHOP, first_p3_world, world
from tests.worlds import IDENTITY_LAYER, crm_contact, dbt_unit_tests_run_once, world_settings, write_world

STORE = (
    "select model_version, train_reason, last_decision, builds_used, training_records, trained_at "
    "from identity_match_model_store order by model_version"
)

PREDICTIONS = (
    "select model_version, train_reason, model_decision, builds_used, training_rows, "
    "churn_model is not null, purchase_30d_model is not null from int_prediction_models"
)
PREDICTION_STORE = (
    "select model_version, train_reason, last_decision, builds_used, training_rows "
    "from prediction_model_store order by model_version"
)


def _rows(settings: Any, sql: str) -> list[tuple]:
    return [tuple(row) for row in get_warehouse(settings).query_published(sql)]


def _outcome(settings: Any) -> dict[str, Any]:
    """What matching decided, and the kept versions and this build's model_metrics rows for them."""
    return {
        "matching": probabilistic_outcome(settings),
        "store": _rows(settings, STORE),
        "used": _rows(
            settings,
            "select distinct model_version, train_reason, model_decision from int_identity__match_model",
        ),
        "metrics": _rows(
            settings,
            "select model_version, metric_name, metric_value, train_reason, model_decision from model_metrics "
            "where model_name = 'identity_match' and built_at = (select max(built_at) from model_metrics) "
            "order by metric_name",
        ),
        "predictions": _rows(settings, PREDICTIONS),
        "prediction_store": _rows(settings, PREDICTION_STORE),
        "prediction_metrics": _rows(
            settings,
            "select distinct model_name, model_version, train_reason, model_decision from model_metrics "
            "where model_name in ('churn', 'purchase_30d') "
            "and built_at = (select max(built_at) from model_metrics) order by model_name",
        ),
        "scores": _rows(
            settings,
            "select customer_id, scored_set, churn_probability, purchase_30d_probability, model_version "
            "from int_customer_features_scored order by customer_id, scored_set",
        ),
    }


# The identity layer and the kept models, with what feeds them (tests/worlds.py, IDENTITY_LAYER).
KEPT_MODELS_LAYER = [
    *IDENTITY_LAYER,
    "+identity_match_model_store",
    "+int_prediction_models",
    "+prediction_model_store",
    "+int_customer_features_scored",
    "+model_metrics",
    "+identity_review_queue",
]


def _build(settings: Any, *, full_refresh: bool = False) -> dict[str, Any]:
    with dbt_unit_tests_run_once():
        result = build(settings, full_refresh=full_refresh, select=KEPT_MODELS_LAYER)
    assert result.published, result.audit.failures
    return _outcome(settings)


def _grown_world() -> dict[str, list[dict]]:
    """The same world with 160 more CRM contacts (about 30% more person records, no new source)."""
    rows = world(P3_SHOP)
    extra = [
        {
            **crm_contact(f"003GR{i:04d}", f"Grown{i}", f"Person{i}", f"grown{i}@extra.org", day=i % 30),
            "street": f"{i + 1} Grown Street",
            "postcode": f"YO{i % 9 + 1} {i % 7 + 1}AB",
            "city": "York",
        }
        for i in range(160)
    ]
    return {**rows, "crm.contacts": [*rows["crm.contacts"], *extra]}


@pytest.fixture(scope="module")
def duckdb_builds(tmp_path_factory) -> dict[str, dict[str, Any]]:
    # The first build is world(P3_SHOP)'s, made once per test run for three modules (a copy of its own).
    assert set(KEPT_MODELS_LAYER) <= set(P3_FIRST_LAYER), "the shared first build builds the kept models"
    settings = first_p3_world(tmp_path_factory, tmp_path_factory.mktemp("train_apart"))
    outcomes = {"first": _outcome(settings)}
    outcomes["again"] = _build(settings)
    write_world(settings.data_dir, _grown_world())
    outcomes["grown"] = _build(settings)
    return outcomes


def test_a_second_build_reuses_the_kept_model(duckdb_builds):
    first, again = duckdb_builds["first"], duckdb_builds["again"]
    assert first["used"] == [(1, "first", "trained")]
    assert again["used"] == [(1, "first", "reused")]
    # One version, used by two builds, its training metadata untouched by the reuse.
    (version,) = again["store"]
    assert version[:5] == (1, "first", "reused", 2, first["store"][0][4])
    assert version[5] == first["store"][0][5]
    assert ("1", "builds_used", 2.0, "first", "reused") in again["metrics"]
    assert ("1", "builds_used", 1.0, "first", "trained") in first["metrics"]
    assert_same_outcome(first["matching"], again["matching"])


def test_records_drifting_past_the_threshold_retrain_with_the_reason(duckdb_builds):
    again, grown = duckdb_builds["again"], duckdb_builds["grown"]
    ((version, reason, decision),) = grown["used"]
    assert (version, decision) == (2, "trained")
    assert reason.startswith("drift: person records ") and "> 20%" in reason
    # The new version is kept beside the old one, whose metadata the retrain leaves as it was.
    assert [row[:4] for row in grown["store"]] == [(1, "first", "reused", 2), (2, reason, "trained", 1)]
    assert grown["store"][0] == again["store"][0]
    assert grown["store"][-1][4] == again["store"][0][4] + 160
    assert ("2", "training_rows", float(grown["store"][-1][4]), reason, "trained") in grown["metrics"]


def postgres_builds(
    tmp_path_factory: pytest.TempPathFactory,
) -> tuple[Any, dict[str, dict[str, Any]], list[dict[str, Any]]]:
    """world(P3_SHOP) on Postgres, built three times (first, again, full refresh), then once more with
    tests/test_incremental_matching.py's increments: its settings, the outcome of each of the three builds,
    and what the incremental chain keeps of the first build and of the increment. Run once per worker by
    tests/conftest.py's p3_postgres_builds, which tests/test_identity_diff.py's Postgres what-if reads too.
    The increment comes after the full refresh, whose model (version 2) is the first's trained again on the
    same records: the same weights, which the chain's test compares with DuckDB's."""
    from tests.test_incremental_matching import postgres_chain_step, postgres_increment

    require_postgres()
    settings = world_settings(
        tmp_path_factory.mktemp("train_apart_pg"), target="postgres", pg_schema="tessera_ta"
    )
    # A first build starts from nothing kept: no schema left by an earlier run of this test.
    with get_warehouse(settings).connect() as con, con.cursor() as cur:
        for schema in ("tessera_ta", "tessera_ta_build", "tessera_ta_masked"):
            cur.execute(f'drop schema if exists "{schema}" cascade')
    write_world(settings.data_dir, world(P3_SHOP))
    outcomes = {"first": _build(settings)}
    steps = [postgres_chain_step(settings)]
    outcomes["again"] = _build(settings)
    outcomes["full_refresh"] = _build(settings, full_refresh=True)
    steps.append(postgres_increment(settings))
    return settings, outcomes, steps


@pytest.mark.xdist_group("postgres_p3")
def test_postgres_reuses_the_kept_model_and_a_full_refresh_retrains(p3_postgres_builds):
    _, builds, _ = p3_postgres_builds
    first, again, refreshed = (builds[k] for k in ("first", "again", "full_refresh"))
    assert first["used"] == [(1, "first", "trained")]
    assert again["used"] == [(1, "first", "reused")]
    assert again["store"][0][:4] == (1, "first", "reused", 2)
    assert ("1", "builds_used", 2.0, "first", "reused") in again["metrics"]
    assert refreshed["used"] == [(2, "full refresh", "trained")]
    assert ("2", "builds_used", 1.0, "full refresh", "trained") in refreshed["metrics"]
    assert [row[0] for row in refreshed["store"]] == [1, 2]
    assert_same_outcome(first["matching"], again["matching"])
    assert_same_outcome(again["matching"], refreshed["matching"])
    # The scoring step between invocations writes the classifiers' row too; this world is too small to
    # fit them (the reuse itself: tests/test_predictions.py and tests/test_prediction_models.py).
    # Nothing is kept, so every build tries again as the first.
    for outcome in (first, again, refreshed):
        assert outcome["predictions"] == [(None, "first", "too few rows", 1, 0, False, False)]
        assert outcome["prediction_store"] == []


# --- the retrain policy, on feature tables (no build) -------------------------------------------


def _features(
    records: int = 10, sources: tuple[str, ...] = ("crm", "shop"), drop: tuple[str, ...] = ()
) -> pa.Table:
    rows = [
        {
            **dict.fromkeys(FEATURE_COLUMNS),
            "unique_id": f"r{i}",
            "source_name": sources[i % len(sources)],
            "first_name_key": f"f{i}",
            "last_name_key": f"l{i}",
            "email": f"e{i}@x.org",
            "phone": f"+44{i:09d}",
            "postcode": f"P{i}",
        }
        for i in range(records)
    ]
    for row in rows:
        for column in drop:
            row[column] = None
    return pa.Table.from_pylist(rows).cast(
        pa.schema([(c, pa.date32() if c == "date_of_birth" else pa.string()) for c in FEATURE_COLUMNS])
    )


NOW = dt.datetime(2026, 12, 1)


def _kept(features: pa.Table, trained_days_ago: float = 1.0) -> KeptModel:
    return KeptModel(
        version=3,
        trained_at=NOW - dt.timedelta(days=trained_days_ago),
        records=features.num_rows,
        comparison_columns=comparison_columns(features),
        sources=source_names(features),
        builds_used=1,
        seconds=1.0,
        untrained_levels=[],
        model={},
        fingerprint=rules_fingerprint(),
    )


def test_the_retrain_policy_names_its_reason():
    features = _features()
    kept = _kept(features)
    policy = RetrainPolicy(record_drift=0.2, max_age_days=30)
    assert comparison_columns(features) == ("email", "first_name_key", "last_name_key", "phone", "postcode")
    assert retrain_reason(kept, features, policy, NOW) is None
    assert retrain_reason(None, features, policy, NOW) == "first"
    assert retrain_reason(kept, features, RetrainPolicy(requested=True), NOW) == "forced"
    assert retrain_reason(kept, features, RetrainPolicy(full_refresh=True), NOW) == "full refresh"
    assert (
        retrain_reason(kept, _features(drop=("phone",)), policy, NOW) == "drift: columns now absent ['phone']"
    )
    assert retrain_reason(_kept(_features(drop=("phone",))), features, policy, NOW) == (
        "drift: columns now present ['phone']"
    )
    assert retrain_reason(kept, _features(sources=("crm", "shop", "pos")), policy, NOW) == (
        "drift: new source ['pos']"
    )
    # 2 of 10 records more is 20%, not past the threshold; 3 is.
    assert retrain_reason(kept, _features(12), policy, NOW) is None
    assert retrain_reason(kept, _features(13), policy, NOW) == "drift: person records 10 -> 13 (30% > 20%)"
    assert retrain_reason(kept, _features(7), policy, NOW) == "drift: person records 10 -> 7 (30% > 20%)"
    assert retrain_reason(_kept(features, 31), features, policy, NOW) == "drift: age 31.0 days > 30"
