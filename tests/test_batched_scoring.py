"""Predictions out of core (issue #16): the feature snapshots are scored in record batches and the scores
written as a stream, on DuckDB (the dbt Python model's stream) and outside dbt (DuckDB and Postgres build
tables, read and written a batch at a time). Many small batches give the scores one batch of the whole
table gives, to 1e-12. On synthetic feature tables, no build (the built world: tests/test_predictions.py)."""

from __future__ import annotations

import math

import duckdb
import numpy as np
import pyarrow as pa
import pytest

from orchestration.predictions import kept
from orchestration.predictions.external import (
    FEATURES_MODEL,
    KEPT_MODEL,
    MODELS_MODEL,
    SCORES_MODEL,
    score_outside_dbt,
)
from orchestration.predictions.scoring import (
    OUTPUT_SCHEMA,
    SURVEY_COLUMNS,
    TRAINING_COLUMNS,
    read_training,
    score_batches,
    score_features,
    survey,
    table_reader,
    train_or_reuse,
)
from orchestration.warehouse.duckdb import DuckDBWarehouse
from orchestration.warehouse.postgres import PostgresWarehouse
from tests.conftest import require_postgres
from tests.test_predictions import _feature_table
from tests.worlds import world_settings

ONE_BATCH = 10**9
KEY = [("scored_set", "ascending"), ("customer_id", "ascending")]
SCORES = ("churn_probability", "purchase_30d_probability", "probability_alive", "predicted_purchases_12m",
          "predicted_value_12m")  # fmt: skip


def assert_same_scores(got: pa.Table, expected: pa.Table) -> None:
    """The same rows (any order), every other column equal, the scores equal to 1e-12."""
    got, expected = got.sort_by(KEY), expected.sort_by(KEY)
    assert got.num_rows == expected.num_rows > 0
    others = [c for c in OUTPUT_SCHEMA.names if c not in SCORES]
    assert got.select(others).to_pylist() == expected.select(others).to_pylist()
    for column in SCORES:
        a, b = got[column].to_pylist(), expected[column].to_pylist()
        assert [x is None for x in a] == [y is None for y in b], column
        assert all(
            math.isclose(x, y, rel_tol=1e-12, abs_tol=1e-12)
            for x, y in zip(a, b, strict=True)
            if x is not None
        )
        assert any(x is not None for x in a), column


def _kept_table() -> pa.Table:
    """int_prediction_model_kept of a first build: the default policy, no kept version (typed, as a
    warehouse holds it)."""
    fields = [("retrain_requested", pa.bool_()), ("full_refresh", pa.bool_()), ("row_drift", pa.float64()),
              ("max_age_days", pa.float64())]  # fmt: skip
    schema = pa.schema(fields + [f for f in kept.MODELS_SCHEMA if f.name != "model_decision"])
    policy = {"retrain_requested": False, "full_refresh": False, "row_drift": 0.2, "max_age_days": 30.0}
    return pa.Table.from_pylist([policy], schema=schema)


@pytest.fixture(scope="module")
def features() -> pa.Table:
    # Shuffled: the batches hold both snapshots in no order.
    table = _feature_table(n=1500, seed=12)
    return table.take(np.random.default_rng(3).permutation(table.num_rows))


@pytest.fixture(scope="module")
def models(features) -> pa.Table:
    return train_or_reuse(features, _kept_table())


@pytest.fixture(scope="module")
def whole(features, models) -> pa.Table:
    """The scores of the whole table in one batch."""
    return score_features(features, models=models, batch_rows=ONE_BATCH)


def test_many_small_batches_score_as_one_batch(features, models, whole):
    """61 batches of 50 rows: the value models are still fitted on each snapshot's buyers as a whole
    (fitted per batch, they would differ), the classifiers score each row alike."""
    calls = []

    def read(columns):
        calls.append(tuple(columns))
        return table_reader(features, 50)(columns)

    streamed = score_batches(read, models=models)
    assert streamed.schema == OUTPUT_SCHEMA
    batches = list(streamed)
    assert len(batches) > 60 and max(b.num_rows for b in batches) <= 50
    assert calls[0] == SURVEY_COLUMNS and len(calls) == 2
    assert_same_scores(pa.Table.from_batches(batches, OUTPUT_SCHEMA), whole)
    assert score_features(features, models=models, batch_rows=37).equals(whole)


def test_the_survey_counts_and_fits_what_the_whole_table_gives(features):
    surveyed = survey(table_reader(features, 64))
    history = features.filter(pa.compute.equal(features["snapshot_name"], "training"))["has_history"]
    assert surveyed.training_rows == history.to_pylist().count(True) > 0
    one = survey(table_reader(features, ONE_BATCH))
    assert surveyed.value_models == one.value_models
    assert all(v is not None for v in surveyed.value_models.values())


def test_training_reads_only_the_rows_and_columns_it_fits_on(features, models):
    """The holdout, the scoring snapshot and customers without history are left behind batch by batch;
    the classifiers fitted on what is kept score as those fitted on the whole table."""
    rows = read_training(table_reader(features, 41))
    assert rows.column_names == list(TRAINING_COLUMNS)
    assert set(rows["snapshot_name"].to_pylist()) == {"training"}
    assert all(rows["has_history"].to_pylist()) and not any(rows["is_evaluation_holdout"].to_pylist())
    assert rows["customer_id"].to_pylist() == sorted(rows["customer_id"].to_pylist())
    training = features.filter(pa.compute.equal(features["snapshot_name"], "training"))
    assert 0 < rows.num_rows < training.num_rows
    counted = models.to_pylist()[0]["training_rows"]
    from_batches = train_or_reuse(table_reader(features, 41), _kept_table(), training_rows=counted)
    columns = ["training_rows", "churn_training_rows", "purchase_30d_training_rows"]
    assert from_batches.select(columns).to_pylist() == models.select(columns).to_pylist()
    assert score_features(features, models=from_batches).equals(score_features(features, models=models))


def test_duckdb_writes_the_stream_from_a_cursor_of_its_own(features, models, whole):
    """As dbt-duckdb materialises the Python model's stream: the features are read from the model's
    connection while another cursor of the same database scans the scores into a table."""
    con = duckdb.connect()
    con.register("features_rows", features)
    con.execute("create table features as select * from features_rows")
    con.unregister("features_rows")
    relation = con.table("features")

    def read(columns):
        return relation.select(*columns).to_arrow_reader(50)

    scored = score_batches(read, models=models)
    writer = con.cursor()
    writer.register("scored_stream", scored)
    writer.execute("create table scored as select * from scored_stream")
    assert_same_scores(con.table("scored").to_arrow_table(), whole)


def _outside_dbt(warehouse, features: pa.Table) -> None:
    warehouse.write_build_table(FEATURES_MODEL, features)
    warehouse.write_build_table(KEPT_MODEL, _kept_table())


def _check_outside_dbt(warehouse, settings, whole: pa.Table, features: pa.Table) -> None:
    result = score_outside_dbt(settings, batch_rows=53)
    assert result["rows"] == features.num_rows
    models = warehouse.read_build_table(f"{MODELS_MODEL}__python")
    assert models["model_decision"].to_pylist() == ["trained"]
    scored = warehouse.read_build_table(f"{SCORES_MODEL}__python")
    assert_same_scores(scored, whole)
    # The classifiers it trained from batches are those trained on the table: the same scores again.
    assert_same_scores(score_features(features, models=models), whole)


def test_scoring_outside_dbt_on_duckdb_reads_and_writes_in_batches(tmp_path, features, whole):
    settings = world_settings(tmp_path)
    settings.build_db.parent.mkdir(parents=True, exist_ok=True)
    duckdb.connect(str(settings.build_db)).close()
    warehouse = DuckDBWarehouse(settings)
    _outside_dbt(warehouse, features)
    batches = list(warehouse.read_build_table_batches(FEATURES_MODEL, ["customer_id", "orders_count"], 100))
    assert len(batches) == 30 and pa.Table.from_batches(batches).to_pylist() == (
        features.select(["customer_id", "orders_count"]).to_pylist()
    )
    _check_outside_dbt(warehouse, settings, whole, features)


@pytest.fixture
def pg_build_schema(tmp_path):
    require_postgres()
    settings = world_settings(tmp_path, target="postgres", pg_schema="tessera_batches")
    warehouse = PostgresWarehouse(settings)
    with warehouse.connect() as con, con.cursor() as cur:
        cur.execute(f'drop schema if exists "{settings.postgres.build_schema}" cascade')
        cur.execute(f'create schema "{settings.postgres.build_schema}"')
    yield settings
    with warehouse.connect() as con, con.cursor() as cur:
        cur.execute(f'drop schema if exists "{settings.postgres.build_schema}" cascade')


def test_scoring_outside_dbt_on_postgres_reads_and_writes_in_batches(pg_build_schema, features, whole):
    warehouse = PostgresWarehouse(pg_build_schema)
    _outside_dbt(warehouse, features)
    stream = warehouse.read_build_table_batches(FEATURES_MODEL, None, 100)
    batches = list(stream)
    assert len(batches) == 30 and max(b.num_rows for b in batches) == 100
    assert pa.Table.from_batches(batches, stream.schema).equals(warehouse.read_build_table(FEATURES_MODEL))
    written = warehouse.write_build_table_batches(
        "streamed", warehouse.read_build_table_batches(FEATURES_MODEL)
    )
    assert written == features.num_rows
    assert (
        warehouse.read_build_table("streamed").to_pylist()
        == warehouse.read_build_table(FEATURES_MODEL).to_pylist()
    )
    _check_outside_dbt(warehouse, pg_build_schema, whole, features)
