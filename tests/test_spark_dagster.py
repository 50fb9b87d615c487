"""`tessera run` on Spark (issue #17; docs/spark.md): the Dagster job build_everything and the syncs after it,
on a real local cluster.

Skipped unless the spark extra is installed and TESSERA_TEST_SPARK=1 (tests/spark_marks.py): it starts a
cluster of its own (tests/spark_cluster.py, its own ports) and builds on it for many minutes. Run it with

    TESSERA_TEST_SPARK=1 .venv/bin/python -m pytest -q -n 0 tests/test_spark_dagster.py

It generates a small world and runs `tessera run` with TESSERA_TARGET=spark in a subprocess, as a user
does: the Dagster job build_everything (load, the phased dbt build with the Python steps between its
invocations, the audit, the publish) and then the Dagster job run_syncs. It builds the same world on
DuckDB through build(), and checks that both Dagster runs succeeded with their materializations, that
the published customers, events and the rest of test_spark.PARITY_COLUMNS, and what probabilistic
matching decided (tests/parity.py), equal DuckDB's, and that every sync ran from Spark: its run and state
in the Spark state database, its files holding what Spark published.
"""

from __future__ import annotations

import csv
import json
import os
import subprocess
import sys
import time
from pathlib import Path
from types import SimpleNamespace

import pytest

from tests.parity import assert_same_outcome, canonical, differences, probabilistic_outcome, sort_key
from tests.spark_cluster import spark_cluster_fixture
from tests.spark_marks import SPARK_MARKS
from tests.test_spark import PARITY_COLUMNS, _world_env

pytestmark = SPARK_MARKS

REPO = Path(__file__).resolve().parent.parent
CUSTOMERS = 100
SEED = 7
# Ports of this module's own cluster, apart from `make spark-up`'s and the other Spark modules'.
PORTS = {
    "TESSERA_SPARK_MASTER_PORT": "17377",
    "TESSERA_SPARK_MASTER_UI_PORT": "18380",
    "TESSERA_SPARK_WORKER_UI_PORT": "18381",
    "TESSERA_SPARK_THRIFT_PORT": "10310",
    "TESSERA_SPARK_THRIFT_UI_PORT": "14340",
}

spark_env = spark_cluster_fixture(PORTS)


@pytest.fixture(scope="module")
def spark_run(spark_env, tmp_path_factory):
    """A world generated, then `tessera run` on the cluster: the environment it ran in, its settings, the
    finished process and its wall time."""
    from orchestration.generate import generate
    from orchestration.settings import Settings

    root = tmp_path_factory.mktemp("spark-dagster")
    env = _world_env(spark_env, "spark", root, root / "data")
    # Its own Dagster instance and dbt target folder: the run's events are read below, and the project's
    # target/ (another target's manifest) is left alone.
    env["DAGSTER_HOME"] = str(root / "dagster")
    env["DBT_TARGET_PATH"] = str(root / "dbt-target")
    env["PYTHONPATH"] = str(REPO)
    (root / "dagster").mkdir()
    (root / "dagster" / "dagster.yaml").write_text("")
    settings = Settings.from_env(env)
    generate(customers=CUSTOMERS, seed=SEED, out=settings.data_dir)
    started = time.monotonic()
    done = subprocess.run(
        [sys.executable, "-c", "from orchestration.cli import main; main()", "run"],
        env=env,
        cwd=REPO,
        capture_output=True,
        text=True,
        check=False,
    )
    seconds = time.monotonic() - started
    print(f"\ntessera run on Spark, {CUSTOMERS} customers: {seconds:.0f} s, exit {done.returncode}")
    return SimpleNamespace(env=env, root=root, settings=settings, done=done, seconds=seconds)


@pytest.fixture(scope="module")
def dagster_runs(spark_run):
    """The runs `tessera run` recorded in its Dagster instance, by job: (status, materialized asset keys)."""
    from dagster import DagsterEventType, DagsterInstance

    runs: dict[str, list] = {}
    with DagsterInstance.from_config(str(spark_run.root / "dagster")) as instance:
        for run in instance.get_runs():
            entries = instance.all_logs(run.run_id, of_type=DagsterEventType.ASSET_MATERIALIZATION)
            keys = {entry.dagster_event.asset_key.to_user_string() for entry in entries}  # type: ignore[union-attr]
            runs.setdefault(run.job_name, []).append((run.status.value, keys))
    return runs


@pytest.fixture(scope="module")
def duckdb_world(spark_run, tmp_path_factory):
    """The same world built and published on DuckDB through build(): its settings."""
    from orchestration.build.pipeline import build
    from orchestration.settings import Settings

    root = tmp_path_factory.mktemp("duckdb-world")
    base = {k: v for k, v in spark_run.env.items() if not k.startswith("TESSERA_SPARK_")}
    base.pop("DBT_TARGET_PATH", None)
    settings = Settings.from_env(_world_env(base, "duckdb", root, spark_run.settings.data_dir))
    result = build(settings, reason="test_spark_dagster")
    assert result.published and result.audit.passed, result.audit.failures[:5]
    return settings


def _spark(spark_run):
    from orchestration.warehouse.registry import get_warehouse
    from orchestration.warehouse.spark import SparkSettings

    warehouse = get_warehouse(spark_run.settings)
    warehouse.spark = SparkSettings.from_env(spark_run.env)  # type: ignore[attr-defined]
    return warehouse


def test_tessera_run_builds_publishes_and_syncs_on_spark_through_dagster(spark_run, dagster_runs):
    done = spark_run.done
    assert done.returncode == 0, (done.stdout[-4000:], done.stderr[-4000:])
    assert "succeeded" in done.stdout, done.stdout[-2000:]
    # One run of each job, both successful: the build, then the syncs after it.
    assert {job: [status for status, _ in runs] for job, runs in dagster_runs.items()} == {
        "build_everything": ["SUCCESS"],
        "run_syncs": ["SUCCESS"],
    }, dagster_runs
    (_, built), (_, synced) = dagster_runs["build_everything"][0], dagster_runs["run_syncs"][0]
    # Loaded, built by dbt in every layer through Dagster's dbt asset, published.
    assert {"crm/contacts", "stg_crm__contacts", "customers", "events", "customer_traits"} <= built, built
    assert {"int_identity__match_model", "int_prediction_models", "published_warehouse"} <= built, built
    from orchestration.sync.project import project_syncs

    syncs = {f"sync_{config.name}" for config in project_syncs(spark_run.settings)}
    assert syncs and syncs <= synced, (syncs, synced)
    # The summary `tessera run` prints after the job, read from Spark.
    assert "Identity:" in done.stdout and "Spark Thrift server" in done.stdout, done.stdout[-3000:]


def test_the_dagster_build_passed_its_audit_and_is_what_the_views_serve(spark_run):
    settings = spark_run.settings
    audit = json.loads(settings.last_audit_path.read_text())
    assert audit["passed"] and audit["tests_passed"] > 300 and audit["models_built"] > 100, {
        k: v for k, v in audit.items() if k != "failures"
    }
    warehouse = _spark(spark_run)
    published = warehouse.published_build()
    assert published is not None and published.startswith("tessera_build_")
    ((customers,),) = warehouse.sql(f"select count(*) from {published}.customers")
    assert int(warehouse.query_published("select count(*) from customers")[0][0]) == int(customers) > 0
    # No Python step's table is left behind, and the build under way is gone (published).
    assert not [row[1] for row in warehouse.sql(f"show tables in {published}") if row[1].endswith("__python")]
    # Publishing kept the record of what the build read, for the sensor build_when_data_lands.
    landed = json.loads(settings.last_landed_path.read_text())
    assert "file:crm/contacts" in landed, sorted(landed)[:10]


def test_the_published_tables_equal_the_duckdb_builds(spark_run, duckdb_world):
    """customers, events and the rest of PARITY_COLUMNS through the published views on Spark against
    DuckDB's published file (floats to 1e-9), and what probabilistic matching decided (tests/parity.py)."""
    from orchestration.warehouse.registry import get_warehouse

    spark, duckdb = _spark(spark_run), get_warehouse(duckdb_world)
    for table, columns in PARITY_COLUMNS.items():
        sql = f"select {columns} from {table}"
        on_spark, on_duckdb = (
            sorted((tuple(canonical(v) for v in row) for row in side.query_published(sql)), key=sort_key)
            for side in (spark, duckdb)
        )
        assert on_duckdb or table not in ("customers", "events"), table
        assert not differences(on_spark, on_duckdb), (table, differences(on_spark, on_duckdb)[:3])
    from unittest import mock

    with mock.patch.dict(
        os.environ, {k: v for k, v in spark_run.env.items() if k.startswith("TESSERA_SPARK_")}
    ):
        on_spark = probabilistic_outcome(spark_run.settings)
    assert_same_outcome(probabilistic_outcome(duckdb_world), on_spark)


def test_every_sync_ran_from_spark_with_its_state_there(spark_run):
    """Each sync's run is recorded in the Spark state database, succeeded; the customer export holds
    exactly the consented customers outside the global holdout that Spark published."""
    from orchestration.sync.project import project_syncs

    warehouse = _spark(spark_run)
    state = warehouse.sync_location().state
    runs = dict(warehouse.sql(f"select sync_name, status from {state}.sync_runs"))
    names = {config.name for config in project_syncs(spark_run.settings)}
    assert runs == dict.fromkeys(names, "success"), runs
    consented = {
        customer_id
        for (customer_id,) in warehouse.query_published(
            "select customer_id from sync_file__customers "
            "where has_consent_email_marketing and not is_global_holdout"
        )
    }
    exported = set()
    for path in (spark_run.settings.data_dir / "exports" / "customer_export").glob("*.csv"):
        with path.open() as handle:
            exported |= {row["customer_id"] for row in csv.DictReader(handle)}
    assert consented and exported == consented
    ((logged,),) = warehouse.sql(
        f"select count(*) from {state}.sync_record_log where sync_name = 'customer_export' "
        "and status = 'succeeded'"
    )
    assert int(logged) == len(consented)
