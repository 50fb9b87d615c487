"""The Spark target on a real local cluster (issue #17; docs/spark.md).

Skipped unless the spark extra is installed (`make spark-install`) AND TESSERA_TEST_SPARK=1: starting
the cluster and building on it takes several minutes on 2 cores, so the default CI does not
run it yet. Run it with

    TESSERA_TEST_SPARK=1 .venv/bin/python -m pytest -q -n 0 tests/test_spark.py

It starts a standalone master, two workers and a Thrift server from pyspark's own scripts (on ports
of its own, state in a temporary folder, so a `make spark-up` cluster is left alone), loads a tiny
generated world through SparkWarehouse, runs `dbt build` of the seeds, staging and the models past
staging that no Python step precedes (SELECTION) on the cluster, checks what it built, and stops the
cluster.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from tests.spark_marks import SPARK_MARKS

REPO = Path(__file__).resolve().parent.parent

pytestmark = SPARK_MARKS

CUSTOMERS = 200
SEED = 7
# What builds on Spark today (docs/spark.md): the seeds and staging, and every model downstream of
# staging that no Python step precedes: the identity layer up to the nodes, their guards and the
# deterministic edges, the person records and match features, the kept-model policies, the quarantine
# marts and journey_launches. Components (int_identity__edges reads the Splink edges), matching and
# scoring run between dbt invocations and are not here yet. Left out: staging/retained (its source is
# the retention engine's `retained` schema, not on Spark yet), the singular test
# junk_identifier_forms_agree (it casts to `varchar` without a length, which Spark refuses; an error in
# a test of a seed would skip everything downstream of the seed), and the two unit tests whose
# blocklist is a fixture: they run the portable junk-identifier form (a correlated subquery matching a
# pattern column), on which Spark 4.3 fails internally ("key not found: pattern"), and a failed unit
# test skips its model. `buildable`: a test runs only when every model it reads is selected (the
# relationships test of components against nodes is not).
BEYOND_STAGING = [
    "int_identity__identifier_edges",
    "int_identity__event_devices",
    "int_identity__node_names",
    "int_identity__record_names",
    "person_record_field_issues",
    "int_identity__match_features",
    "int_identity__match_model_kept",
    "identity_guard_audit",
    "int_prediction_model_kept",
    "quarantined_rows",
    "quarantine_summary",
    "journey_launches",
]
SELECTION = [
    "+staging",
    *(f"+{model}" for model in BEYOND_STAGING),
    "--exclude",
    "staging.retained",
    "junk_identifier_forms_agree",
    "unit_test:normalises_awkward_identifiers",
    "unit_test:person_source_rows_are_normalised_and_quarantined_with_reasons",
    "--indirect-selection",
    "buildable",
]
# Ports of the test's own cluster, apart from the defaults of `make spark-up`.
PORTS = {
    "TESSERA_SPARK_MASTER_PORT": "17177",
    "TESSERA_SPARK_MASTER_UI_PORT": "18180",
    "TESSERA_SPARK_WORKER_UI_PORT": "18181",
    "TESSERA_SPARK_THRIFT_PORT": "10110",
    "TESSERA_SPARK_THRIFT_UI_PORT": "14140",
}


def _cluster(command: str, env: dict[str, str]) -> None:
    subprocess.run([sys.executable, str(REPO / "tools" / "spark_cluster.py"), command], env=env, check=True)


@pytest.fixture(scope="module")
def spark_env(tmp_path_factory):
    home = tmp_path_factory.mktemp("spark")
    env = dict(
        os.environ, TESSERA_SPARK_HOME=str(home), TESSERA_SPARK_BUILD_SCHEMA="tessera_test_build", **PORTS
    )
    try:
        _cluster("up", env)
        yield env
    finally:
        _cluster("down", env)


@pytest.fixture(scope="module")
def spark_world(spark_env, tmp_path_factory):
    """The world generated, loaded into the cluster, and `dbt build` of SELECTION run on it."""
    from orchestration.audiences.definitions import dbt_vars_args
    from orchestration.generate import generate
    from orchestration.settings import Settings
    from orchestration.warehouse.registry import get_warehouse
    from orchestration.warehouse.spark import SparkSettings

    root = tmp_path_factory.mktemp("spark-world")
    env = dict(
        spark_env,
        TESSERA_TARGET="spark",
        TESSERA_DATA_DIR=str(root / "data"),
        TESSERA_WAREHOUSE=str(root / "tessera.duckdb"),
        TESSERA_BUILD_DB=str(root / "build" / "tessera.duckdb"),
    )
    settings = Settings.from_env(env)
    generate(customers=CUSTOMERS, seed=SEED, out=settings.data_dir)
    warehouse = get_warehouse(settings)
    warehouse.spark = SparkSettings.from_env(env)  # type: ignore[attr-defined]
    warehouse.prepare_build()
    loads = warehouse.load_raw(settings.raw_dir)
    target = root / "dbt-target"
    command = [
        str(Path(sys.executable).parent / "dbt"),
        *dbt_vars_args(["build", "--select", *SELECTION]),
        "--project-dir",
        str(REPO),
        "--profiles-dir",
        str(REPO),
        "--target",
        "spark",
        "--target-path",
        str(target),
    ]
    built = subprocess.run(command, env=env, capture_output=True, text=True, check=False)
    results_path = target / "run_results.json"
    assert results_path.exists(), built.stdout[-3000:] + built.stderr[-3000:]
    results = json.loads(results_path.read_text())["results"]
    return warehouse, settings, loads, results, built


def test_every_raw_file_lands_with_its_rows(spark_world):
    warehouse, settings, loads, _, _ = spark_world
    by_table = {(load.source, load.table): load for load in loads}
    for path in sorted(settings.raw_dir.glob("*/*.parquet")):
        load = by_table[(path.parent.name, path.stem)]
        assert load.rows == pq.ParquetFile(path).metadata.num_rows, load
        (counted,) = warehouse.sql(f"select count(*) from raw_{load.source}.{load.table}")
        assert counted[0] == load.rows
    assert by_table[("person_sources", "records")].rows > 0


def test_the_selection_builds_and_passes_its_tests_on_the_cluster(spark_world):
    _, _, _, results, built = spark_world
    failed = {
        r["unique_id"]: (r["status"], (r.get("message") or "")[:300])
        for r in results
        if r["status"] not in ("success", "pass", "warn")
    }
    assert not failed, json.dumps(failed, indent=1) + built.stdout[-2000:]
    kinds = {r["unique_id"].split(".")[0] for r in results}
    assert {"seed", "model", "test"} <= kinds
    models = {r["unique_id"].split(".")[-1] for r in results if r["unique_id"].startswith("model.")}
    assert {
        "stg_crm__contacts",
        "stg_shop__customers",
        "stg_events__tracks",
        "stg_person_sources__records",
    } <= models


def test_identifiers_are_normalised_on_spark_as_elsewhere(spark_world):
    """Every match is replaced (Spark's regexp_replace has no 'g' flag: tessera.regexp_replace_all)."""
    warehouse, _, _, _, _ = spark_world
    build = warehouse.spark.build_schema
    rows = warehouse.sql(
        f"select count(*), count(email), "
        f"sum(case when email rlike '\\s' or email <> lower(email) then 1 else 0 end), "
        f"sum(case when email like '%s%' then 1 else 0 end) "
        f"from {build}.base_crm__contacts"
    )
    total, with_email, unnormalised, with_an_s = rows[0]
    assert total > 0
    assert with_email > total / 2, "emails normalised to null: regexp_replace took the 'g' flag as a position"
    assert unnormalised == 0
    # Spark unescapes backslashes in literals unless told not to: '\s+' would become 's+'.
    assert with_an_s > 0, "every 's' removed from e-mails: the pattern lost its backslash"


def test_publishing_is_refused_until_write_audit_publish_exists(spark_world):
    warehouse, _, _, _, _ = spark_world
    with pytest.raises(NotImplementedError, match="issue #17"):
        warehouse.publish()


def test_identity_layer_builds_up_to_the_python_steps(spark_world):
    """The layers past staging that need no Python step build on Spark and hold what they should."""
    warehouse, _, _, results, _ = spark_world
    built = {
        r["unique_id"].split(".")[-1]
        for r in results
        if r["unique_id"].startswith("model.") and r["status"] == "success"
    }
    assert set(BEYOND_STAGING) | {"int_identity__nodes", "int_identity__co_occurrences"} <= built
    build = warehouse.spark.build_schema
    ((nodes, linkable),) = warehouse.sql(
        f"select count(*), sum(case when is_linkable then 1 else 0 end) from {build}.int_identity__nodes"
    )
    assert 0 < linkable < nodes, (nodes, linkable)
    ((edges, confidence),) = warehouse.sql(
        f"select count(*), max(abs(confidence - 1.0)) from {build}.int_identity__identifier_edges"
    )
    assert edges > 0 and confidence == 0.0
    # The demo world plants junk identifiers, a shared inbox and bad e-mails: the guards see them here too.
    guards = dict(warehouse.sql(f"select guard, count(*) from {build}.identity_guard_audit group by 1"))
    assert {"blocklist", "invalid", "max_group_size"} <= set(guards), guards
    ((quarantined,),) = warehouse.sql(f"select count(*) from {build}.quarantined_rows")
    ((summarised,),) = warehouse.sql(f"select sum(row_count) from {build}.quarantine_summary")
    assert quarantined > 0 and summarised == quarantined
    from orchestration.journeys.config import declared_journey_names

    launched = {name for (name,) in warehouse.sql(f"select journey_name from {build}.journey_launches")}
    assert launched == declared_journey_names() != frozenset()
