"""The Spark target on a real local cluster (issue #17; docs/spark.md).

Skipped unless the spark extra is installed (`make spark-install`) AND TESSERA_TEST_SPARK=1: starting
the cluster and building on it takes several minutes on 2 cores, so the default CI does not
run it yet. Run it with

    TESSERA_TEST_SPARK=1 .venv/bin/python -m pytest -q -n 0 tests/test_spark.py

It starts a standalone master, two workers and a Thrift server from pyspark's own scripts (on ports
of its own, state in a temporary folder, so a `make spark-up` cluster is left alone), and builds a tiny
generated world on the cluster through the pipeline's own `build()`, as `tessera run` outside Dagster and
every benchmark do: prepare the build database, load the raw files, `dbt build` of the whole project in
phases with the matching and scoring steps between them, the audit. It checks that every node of the
project ran and passed, compares the identity layer, the marts, the predictions, the traits, the
audiences and the sync models with the same world built through `build()` on DuckDB, then publishes it
(write-audit-publish: views in the published database over the build's database) once refused without
and with a failed audit, builds again from the published state and publishes that, with a reader
querying the published views throughout, and stops the cluster.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import threading
import time
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from tests.parity import canonical, differences, sort_key
from tests.spark_cluster import spark_cluster_fixture
from tests.spark_marks import SPARK_MARKS

REPO = Path(__file__).resolve().parent.parent

pytestmark = SPARK_MARKS

CUSTOMERS = 200
SEED = 7
# Models past staging that no Python step precedes (checked built, and what they hold).
BEYOND_STAGING = [
    "int_identity__identifier_edges",
    "int_identity__deterministic_components",
    "int_identity__event_devices",
    "int_identity__node_names",
    "int_identity__record_names",
    "person_record_field_issues",
    "int_identity__match_features",
    "int_identity__match_model_kept",
    "int_identity__match_record_changes",
    "identity_guard_audit",
    "int_prediction_model_kept",
    "quarantined_rows",
    "quarantine_summary",
    "journey_launches",
]
# Built after the matching step (orchestration/identity/external.py, between dbt invocations as on
# Postgres): the identity layer from Splink's comparisons to the customer ids of every record.
AFTER_MATCHING = [
    "int_identity__match_model",
    "int_identity__match_compared",
    "int_identity__match_candidates",
    "int_identity__match_scored_features",
    "int_identity__match_pairs",
    "int_identity__probabilistic_links",
    "int_identity__probabilistic_edges",
    "int_identity__edges",
    "int_identity__components",
    "int_identity__node_confidence",
    "customer_id_map",
    "int_identity__record_customers",
]
# Read from the DuckDB build of the same world, and compared (duckdb_identity).
# (The comparison vectors kept for the next build are not: the pairs weighed from them are.)
KEPT_STATE = (
    "int_identity__match_compared",
    "int_identity__match_candidates",
    "int_identity__match_scored_features",
)
# The marts and steps past the identity layer compared with DuckDB: the columns each decides (not the
# build's own id and clock: build_id, changed_at, customer_created_at, trained_at, ...). Built but not
# compared: customer_groups (the world has no group calls: empty on both), customer_id_history (a first
# build moves no id: empty on both), identity_review_queue, identity_match_weights, the model stores.
PARITY_COLUMNS = {
    "int_customer_attributes_ranked": "*",
    "customers": (
        "customer_id, first_name, last_name, name_source, email, email_source, phone, phone_source, street, "
        "city, postcode, region, country_code, address_source, identifier_count, source_record_count, "
        "source_count, name_observed_at, email_observed_at, phone_observed_at, address_observed_at, "
        "first_seen_at, last_seen_at"
    ),
    "customer_source_records": "*",
    "customer_identifiers": "*",
    "identity_unresolved_records": "*",
    "identity_links": "*",
    "identity_match_link_state": (
        "pair_id, unique_id_l, unique_id_r, anchor_type_l, anchor_value_l, anchor_type_r, anchor_value_r, "
        "link_status, status_reason, match_probability, is_edge, was_edge"
    ),
    # Not loaded_at: when the build loaded the row, the build's clock.
    "events": (
        "event_id, source_name, customer_id, event_channel, event_name, anonymous_id, product_id, "
        "product_category, order_id, revenue, utm_source, utm_campaign, occurred_at"
    ),
    "orders": (
        "order_id, source_name, customer_id, order_channel, store_id, currency_code, discount_code, "
        "financial_status, item_count, total_amount, ordered_at"
    ),
    "order_items": (
        "order_item_id, order_id, customer_id, product_id, product_name, product_category, financial_status, "
        "quantity, unit_price, ordered_at"
    ),
    "consent_history": "*",
    "consent_current": "*",
    "int_customer_features_snapshotted": "*",
    "int_customer_features_scored": "*",
    "customer_predictions": "*",
    "model_metrics": "model_name, model_version, metric_name, decile, metric_value, row_count, training_cutoff_at, scored_at",
    # The two most_frequent traits (favourite_category, preferred_channel) too: every warehouse breaks a tie
    # by the smallest value (macros/traits/trait_aggregate.sql).
    "customer_traits": (
        "customer_id, first_event_at, last_event_at, orders_count, lifetime_revenue, first_order_at, "
        "last_order_at, orders_last_365_days, favourite_category, preferred_channel, categories_viewed, "
        "categories_viewed_count, "
        "first_touch_utm_source, first_touch_utm_campaign, last_touch_utm_source, last_touch_utm_campaign, "
        "products_viewed_30_days, email_sends_90_days, email_opens_90_days, email_clicks_90_days, store_visits, "
        "average_order_value, days_since_last_order, recency_bucket, rfm_recency_score, rfm_frequency_score, "
        "rfm_monetary_score, email_open_rate_90_days, email_click_rate_90_days, cart_abandonment_count, "
        "latest_nps, latest_csat, open_support_tickets, is_loyalty_member, last_purchase_on_public_holiday, "
        "last_purchase_on_rainy_day, as_of"
    ),
    "int_customers_located_near_stores": "*",
    "audience_memberships": "*",
    "audience_overlaps": "*",
    "audience_priority_list_members": "*",
    "sync_audience__members": "*",
    "sync_file__customers": "*",
    "sync_priority_list__members": "*",
}
COMPARED = [
    "int_identity__deterministic_components",
    *(m for m in AFTER_MATCHING if m not in KEPT_STATE),
    *PARITY_COLUMNS,
]
# Ports of the test's own cluster, apart from the defaults of `make spark-up`.
PORTS = {
    "TESSERA_SPARK_MASTER_PORT": "17177",
    "TESSERA_SPARK_MASTER_UI_PORT": "18180",
    "TESSERA_SPARK_WORKER_UI_PORT": "18181",
    "TESSERA_SPARK_THRIFT_PORT": "10110",
    "TESSERA_SPARK_THRIFT_UI_PORT": "14140",
}


def _spark_environment(env: dict[str, str]):
    """The cluster's settings where the pipeline's own steps look for them (os.environ): the matching
    step and drop_written_tables open the warehouse from Settings alone."""
    from unittest import mock

    return mock.patch.dict(os.environ, {k: v for k, v in env.items() if k.startswith("TESSERA_SPARK_")})


spark_env = spark_cluster_fixture(PORTS, TESSERA_SPARK_BUILD_SCHEMA="tessera_test_build")


def _dbt_build(env: dict[str, str], warehouse, target: Path, select: list[str]) -> tuple[list[dict], object]:
    """`dbt build --select <select>` into the build under way's database; its results and the process."""
    from orchestration.audiences.definitions import dbt_vars_args

    command = [
        str(Path(sys.executable).parent / "dbt"),
        *dbt_vars_args(["build", "--select", *select]),
        "--project-dir",
        str(REPO),
        "--profiles-dir",
        str(REPO),
        "--target",
        "spark",
        "--target-path",
        str(target),
    ]
    (target / "run_results.json").unlink(missing_ok=True)
    dbt_env = {**env, **warehouse.dbt_profile_environment()}
    built = subprocess.run(command, env=dbt_env, capture_output=True, text=True, check=False)
    results_path = target / "run_results.json"
    assert results_path.exists(), built.stdout[-3000:] + built.stderr[-3000:]
    return json.loads(results_path.read_text())["results"], built


def _world_env(base: dict[str, str], target: str, root: Path, data_dir: Path) -> dict[str, str]:
    return dict(
        base,
        TESSERA_TARGET=target,
        TESSERA_DATA_DIR=str(data_dir),
        TESSERA_WAREHOUSE=str(root / "tessera.duckdb"),
        TESSERA_BUILD_DB=str(root / "build" / "tessera.duckdb"),
    )


def _failures(results: list[dict]) -> dict[str, tuple[str, str]]:
    return {
        r["unique_id"]: (r["status"], (r.get("message") or "")[:300])
        for r in results
        if r["status"] not in ("success", "pass", "warn")
    }


@pytest.fixture(scope="module")
def spark_world(spark_env, tmp_path_factory):
    """The world generated and built on the cluster through the pipeline's build(), not published (the
    publishing tests below publish it): its warehouse, settings, loads, run results, the BuildResult,
    and (environment, folder, build database)."""
    from orchestration.build.pipeline import build
    from orchestration.generate import generate
    from orchestration.settings import Settings
    from orchestration.warehouse.registry import get_warehouse
    from orchestration.warehouse.spark import SparkSettings

    root = tmp_path_factory.mktemp("spark-world")
    env = _world_env(spark_env, "spark", root, root / "data")
    settings = Settings.from_env(env)
    generate(customers=CUSTOMERS, seed=SEED, out=settings.data_dir)
    started = time.monotonic()
    # The pipeline's steps open the warehouse from Settings and the environment (the cluster's ports).
    with _spark_environment(env):
        result = build(settings, publish=False, reason="test_spark")
    seconds = time.monotonic() - started
    warehouse = get_warehouse(settings)
    warehouse.spark = SparkSettings.from_env(env)  # type: ignore[attr-defined]
    build_database = warehouse.build_database()  # type: ignore[attr-defined]
    print(
        f"\nspark build() of {CUSTOMERS} customers: {seconds:.0f} s, {len(result.results)} nodes, "
        f"audit {'passed' if result.audit.passed else 'FAILED'}"
    )
    return warehouse, settings, result.loads, result.results, result, (env, root, build_database)


@pytest.fixture(scope="module")
def duckdb_identity(spark_world, tmp_path_factory):
    """The same world built on DuckDB through the same build() (scipy components, Splink inside dbt):
    the COMPARED tables, as rows."""
    import duckdb

    from orchestration.build.pipeline import build
    from orchestration.settings import Settings

    _, spark_settings, *_ = spark_world
    root = tmp_path_factory.mktemp("duckdb-world")
    settings = Settings.from_env(_world_env(dict(os.environ), "duckdb", root, spark_settings.data_dir))
    result = build(settings, publish=False, reason="test_spark")
    assert result.audit.passed, _failures(result.results)
    con = duckdb.connect(str(settings.build_db), read_only=True)
    try:
        return {table: _rows(lambda sql: con.execute(sql).fetchall(), table) for table in COMPARED}
    finally:
        con.close()


def _rows(query, table: str) -> list[tuple]:
    """What a table decided, in terms two warehouses share: identifiers and records, not node ids."""
    nodes = "int_identity__nodes"
    if table.endswith("components"):
        label = "deterministic_component_id" if "deterministic" in table else "component_id"
        # Each identifier with its component's founder (the node the component is labelled after).
        sql = (
            f"select n.identifier_type, n.identifier_value, f.identifier_type, f.identifier_value "
            f"from {table} as c inner join {nodes} as n on n.node_id = c.node_id "
            f"inner join {nodes} as f on f.node_id = c.{label}"
        )
    elif table == "customer_id_map":
        sql = f"select identifier_type, identifier_value, customer_id, previous_customer_id, is_active from {table}"
    elif table == "int_identity__record_customers":
        sql = f"select source_name, table_name, record_id, customer_id, placed_by, confidence from {table}"
    elif table == "int_identity__match_pairs":
        sql = f"select pair_id, unique_id_l, unique_id_r, match_probability, match_weight from {table}"
    elif table == "int_identity__match_model":
        sql = f"select comparison_name, comparison_vector_value, m_probability, u_probability, records from {table}"
    elif table == "int_identity__probabilistic_links":
        sql = f"select pair_id, link_status, is_edge, match_probability from {table}"
    elif table in ("int_identity__probabilistic_edges", "int_identity__edges"):
        sql = (
            f"select a.identifier_type, a.identifier_value, b.identifier_type, b.identifier_value, e.link_rule, "
            f"e.source_name, e.table_name, e.record_id, e.pair_id, e.confidence from {table} as e "
            f"inner join {nodes} as a on a.node_id = e.node_id_a inner join {nodes} as b on b.node_id = e.node_id_b"
        )
    elif table == "int_identity__node_confidence":
        sql = f"select n.identifier_type, n.identifier_value, c.confidence from {table} as c inner join {nodes} as n on n.node_id = c.node_id"
    elif table in PARITY_COLUMNS:
        sql = f"select {PARITY_COLUMNS[table]} from {table}"
    else:
        raise AssertionError(table)
    return sorted((tuple(canonical(value) for value in row) for row in query(sql)), key=sort_key)


def test_every_raw_file_lands_with_its_rows(spark_world):
    warehouse, settings, loads, *_ = spark_world
    by_table = {(load.source, load.table): load for load in loads}
    for path in sorted(settings.raw_dir.glob("*/*.parquet")):
        load = by_table[(path.parent.name, path.stem)]
        assert load.rows == pq.ParquetFile(path).metadata.num_rows, load
        (counted,) = warehouse.sql(f"select count(*) from raw_{load.source}.{load.table}")
        assert counted[0] == load.rows
    assert by_table[("person_sources", "records")].rows > 0


def test_the_whole_project_builds_and_passes_on_the_cluster_through_the_pipeline(spark_world):
    """build() ran every node of the project (none left out, none skipped), the Python steps between its
    dbt invocations, and the audit passed."""
    _, settings, _, results, result, _ = spark_world
    assert not _failures(results), json.dumps(_failures(results), indent=1)
    assert result.audit.passed, result.audit.failures[:5]
    manifest = json.loads((settings.build_db.parent / "dbt-target-spark" / "manifest.json").read_text())
    # Every enabled node (the manifest also lists, disabled, the tests of the presets' models not in use).
    wanted = {
        unique_id
        for unique_id, node in {**manifest["nodes"], **manifest.get("unit_tests", {})}.items()
        if node["resource_type"] in ("model", "seed", "test", "unit_test", "snapshot")
        and node["config"].get("enabled", True)
    }
    ran = {r["unique_id"] for r in results}
    assert wanted - ran == set(), sorted(wanted - ran)[:20]
    kinds = {r["unique_id"].split(".")[0] for r in results}
    assert {"seed", "model", "test", "unit_test"} <= kinds
    models = {r["unique_id"].split(".")[-1] for r in results if r["unique_id"].startswith("model.")}
    # Staging (the retained sources too), and the copies of both Python steps' tables.
    assert {
        "stg_crm__contacts",
        "stg_person_sources__records",
        "stg_retained__retention_runs",
        "int_identity__match_model",
        "int_prediction_models",
        "customer_traits",
    } <= models


def test_identifiers_are_normalised_on_spark_as_elsewhere(spark_world):
    """Every match is replaced (Spark's regexp_replace has no 'g' flag: tessera.regexp_replace_all)."""
    warehouse, *_, (_, _, build) = spark_world
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


def test_identity_layer_builds_up_to_the_python_steps(spark_world):
    """The layers past staging that need no Python step build on Spark and hold what they should."""
    warehouse, _, _, results, _, (_, _, build) = spark_world
    built = {
        r["unique_id"].split(".")[-1]
        for r in results
        if r["unique_id"].startswith("model.") and r["status"] == "success"
    }
    assert set(BEYOND_STAGING) | {"int_identity__nodes", "int_identity__co_occurrences"} <= built
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


def test_seeds_land_on_spark_exactly_as_written(spark_world):
    """Every seed value, quotes and backslashes included (a blocklist pattern is a regex): dbt-spark's
    bindings doubled each backslash under escapedStringLiterals, so no phone rule matched."""
    import csv

    warehouse, *_, (_, _, build) = spark_world
    with (REPO / "seeds" / "identifier_blocklist.csv").open(newline="") as handle:
        written = sorted(tuple(row) for row in list(csv.reader(handle))[1:])
    landed = sorted(tuple(row) for row in warehouse.sql(f"select * from {build}.identifier_blocklist"))
    assert landed == written
    assert any("\\" in pattern for _, pattern, _ in landed)


def test_identity_on_spark_decides_what_duckdb_decides(spark_world, duckdb_identity):
    """The same world through the identity layer on both warehouses: the components (min-label
    propagation in Spark SQL against scipy), the deterministic ones, the Splink model and pairs (the
    matching step fed from Spark), the links and edges, the customer ids and every record's customer;
    then the marts, the prediction features, the scores of the scoring step fed from Spark, the
    predictions and the traits (PARITY_COLUMNS; floats to 1e-9)."""
    warehouse, _, _, results, _, (_, _, build) = spark_world
    statuses = {
        r["unique_id"].split(".")[-1]: r["status"] for r in results if r["unique_id"].startswith("model.")
    }
    assert {model: statuses.get(model) for model in COMPARED} == dict.fromkeys(COMPARED, "success"), (
        _failures(results)
    )

    def spark_query(sql: str) -> list[tuple]:
        return warehouse.sql(
            re.sub(
                r"\b(from|join) (int_|customer|identity_|events|orders|order_items|consent_|model_|audience_|sync_)",
                rf"\1 {build}.\2",
                sql,
            )
        )

    for table in COMPARED:
        on_spark, on_duckdb = _rows(spark_query, table), duckdb_identity[table]
        assert on_duckdb, table
        assert not differences(on_spark, on_duckdb), (table, differences(on_spark, on_duckdb)[:3])
    # Probabilistic links join components here (the world plants records only Splink can place).
    assert any(status == "accepted" for _, status, *_ in duckdb_identity["int_identity__probabilistic_links"])
    # No scratch table of the components loop, nor of the matching step, is left in the build.
    leftovers = [
        row[1]
        for row in warehouse.sql(f"show tables in {build}")
        if "__cc_" in row[1] or row[1].endswith("__python")
    ]
    assert leftovers == []


# The run-time half of the Spark audience sandbox: the settings the pre-hook gives an analyst audience's
# session (spark__audience_sandbox in macros/audiences/audience_sandbox.sql; checked to be there below).
SANDBOX_SETTINGS = ("set spark.sql.variable.substitute=false", "set spark.sql.runSQLOnFiles=false")
CANARY = "tessera-canary-7f3a"


def test_audiences_journeys_and_syncs_build_on_spark_in_the_sandbox(spark_world):
    """The analyst audiences built with the sandbox's pre-hook, and everything after them passed."""
    _, settings, _, results, _, _ = spark_world
    statuses = {r["unique_id"]: r["status"] for r in results}
    ours = {
        uid: status
        for uid, status in statuses.items()
        if any(
            part in uid for part in ("audience", "journey_members", "sync_", "near_stores", "city_locations")
        )
    }
    models = {uid.split(".")[-1] for uid in ours if uid.startswith("model.")}
    assert {
        "audience_last_season_matchgoers_near_store",
        "audience_memberships",
        "journey_members",
        "sync_audience__members",
        "sync_priority_list__members",
        "int_customers_located_near_stores",
    } <= models
    assert any(uid.startswith("test.") for uid in ours)
    failed = {uid: status for uid, status in ours.items() if status not in ("success", "pass")}
    assert not failed, (failed, _failures(results))
    # What the build's audience check (check_audiences, target spark) runs on the compiled SQL: every
    # model in models/audiences/, as compiled for Spark, passes the sandbox's Spark rules.
    from orchestration.audiences.check import readable_relations
    from orchestration.audiences.sqlcheck import check_sandboxed, relation_parts

    target = settings.build_db.parent / "dbt-target-spark"
    manifest = json.loads((target / "manifest.json").read_text())
    checked = []
    for node in manifest["nodes"].values():
        if node["resource_type"] == "model" and node["original_file_path"].startswith("models/audiences/"):
            sql = (target / "compiled" / "tessera" / node["original_file_path"]).read_text()
            reads = {relation_parts(r, "spark") for r in readable_relations(manifest, node["unique_id"])}
            check_sandboxed(node["name"], sql, "spark", what="compiled SQL", allowed_relations=reads)
            checked.append(node["name"])
    assert {"audience_memberships", "audience_lift", "audience_last_season_matchgoers_near_store"} <= set(
        checked
    )


def test_the_spark_sandbox_refuses_files_and_substitution_and_reads_nothing(spark_world, tmp_path):
    """Hostile audience SQL on the cluster: a session as dbt opens it reads a file named as a table and
    substitutes the server's environment into a literal (the threat is real); the static check refuses
    both before anything runs, and a session with the sandbox's settings fails the read without
    reading the file and leaves `${…}` as text."""
    import yaml

    from orchestration.audiences.rules import AudienceConfigError, load_project
    from orchestration.audiences.sqlcheck import AudienceSqlRefused, check_sandboxed

    warehouse, *_ = spark_world
    macro = (REPO / "macros" / "audiences" / "audience_sandbox.sql").read_text()
    for setting in SANDBOX_SETTINGS:
        assert setting in macro, setting
    canary = tmp_path / "canary.txt"
    canary.write_text(CANARY + "\n")
    read = f"select value as customer_id from text.`file://{canary}`"
    substituted = "select '${system:java.home}' as customer_id"
    with warehouse.cursor() as cur:
        cur.execute(read)
        assert cur.fetchall() == [(CANARY,)]
        cur.execute(substituted)
        assert cur.fetchall()[0][0] not in ("${system:java.home}", "")
    # Statically: refused, naming the rule, before dbt runs (the build's check_rules, target spark).
    for sql, rule in ((read, "files"), (substituted, "substitution")):
        with pytest.raises(AudienceSqlRefused, match=f"rule: {rule}"):
            check_sandboxed("evil", sql, "spark")
    folder = tmp_path / "audiences"
    folder.mkdir()
    (folder / "evil.yml").write_text(yaml.safe_dump({"name": "evil", "rule": {"sql": read}}))
    with pytest.raises(
        AudienceConfigError, match=r"evil\.yml: audience evil: its sql condition .*rule: files"
    ):
        load_project(folder, None, "spark")
    # At run time, in the sandbox's session: the read fails and reads nothing; `${…}` stays text.
    with warehouse.cursor() as cur:
        for setting in SANDBOX_SETTINGS:
            cur.execute(setting)
        with pytest.raises(Exception, match="TABLE_OR_VIEW_NOT_FOUND") as refused:
            cur.execute(read)
            cur.fetchall()
        assert CANARY not in str(refused.value)
        cur.execute(substituted)
        assert cur.fetchall() == [("${system:java.home}",)]


# -- write-audit-publish (docs/spark.md, "Publishing"); these run last: the second publish drops the
# first build's database, which the tests above read.

# Published tables the checks below read: a mart, an incremental model, and one the second build drops.
CHANGED, INCREMENTAL, DROPPED = "quarantined_rows", "journey_launches", "identity_guard_audit"
# Incremental by delete+insert (spark_delete_insert_sql): built again in the second build.
STABLE_IDS = "customer_id_map"


def _count(warehouse, table: str) -> int:
    return int(warehouse.query_published(f"select count(*) from {table}")[0][0])


@pytest.fixture(scope="module")
def publishing(spark_world):
    """Refused publishes, a first audited publish, a second build from the published state and its
    publish with a reader querying the published views all along; what each step saw."""
    from orchestration.build.pipeline import record_audit
    from orchestration.warehouse.audit import Audit, PublishBlocked

    warehouse, settings, _, results, result, (env, root, first) = spark_world
    seen: dict = {"first": first}
    # The audit build() wrote, set aside while publishing is refused without one and with a failed one.
    audit = settings.audit_path.read_text()
    settings.audit_path.unlink()
    with pytest.raises(PublishBlocked, match="not been audited"):
        warehouse.publish()
    failing = {"unique_id": "test.tessera.spark_publish_probe", "status": "fail", "message": "1 row"}
    Audit.from_run_results({"results": [*results, failing]}).write(settings.audit_path)
    with pytest.raises(PublishBlocked, match="spark_publish_probe"):
        warehouse.publish()
    seen["databases_after_refusals"] = {name for (name,) in warehouse.sql("show databases")}

    assert result.audit.passed
    settings.audit_path.write_text(audit)
    clock = time.monotonic()
    warehouse.publish()
    seconds = {"first publish": time.monotonic() - clock}
    seen["first_pointer"] = warehouse.published_build()
    seen["first_relations"] = {row[1] for row in warehouse.sql(f"show tables in {first}")}
    seen["published_tables"] = {row[1] for row in warehouse.sql("show tables in tessera")}
    seen["published_views"] = {row[1] for row in warehouse.sql("show views in tessera")}
    seen["first_counts"] = {
        table: (_count(warehouse, table), int(warehouse.sql(f"select count(*) from {first}.{table}")[0][0]))
        for table in (CHANGED, INCREMENTAL, DROPPED)
    }
    seen["first_launches"] = dict(
        warehouse.query_published(f"select journey_name, launch_build_id from {INCREMENTAL}")
    )

    # The next build starts from copies of the published tables; readers still see the first publish.
    clock = time.monotonic()
    warehouse.prepare_build()
    seconds["prepare_build (copies)"] = time.monotonic() - clock
    second = seen["second"] = warehouse.build_database()
    seen["second_copied"] = {row[1] for row in warehouse.sql(f"show tables in {second}")}
    clock = time.monotonic()
    results2, built2 = _dbt_build(env, warehouse, root / "dbt-target", [INCREMENTAL, STABLE_IDS])
    seconds["dbt build of journey_launches and customer_id_map (full parse)"] = time.monotonic() - clock
    ids = f"select identifier_type, identifier_value, customer_id, previous_customer_id, is_active from {STABLE_IDS}"
    seen["ids"] = {
        "first": sorted(warehouse.sql(ids.replace("from ", f"from {first}."))),
        "second": sorted(warehouse.sql(ids.replace("from ", f"from {second}."))),
    }
    seen["second_results"] = {r["unique_id"]: r["status"] for r in results2}
    seen["second_log"] = built2.stdout[-2000:]
    # What else this build changed: one row more in a mart, a table it no longer has.
    warehouse.sql(f"insert into {second}.{CHANGED} select * from {second}.{CHANGED} limit 1")
    warehouse.drop_build_table(DROPPED)
    seen["during_build"] = {
        "pointer": warehouse.published_build(),
        "counts": {table: _count(warehouse, table) for table in (CHANGED, DROPPED)},
        "launches": dict(
            warehouse.query_published(f"select journey_name, launch_build_id from {INCREMENTAL}")
        ),
    }

    # A reader counts the changed table through its view, over and over, while the swap runs.
    readings: list[tuple[float, object]] = []
    stop = threading.Event()

    def reader() -> None:
        while not stop.is_set():
            try:
                readings.append((time.monotonic(), _count(warehouse, CHANGED)))
            except Exception as error:  # noqa: BLE001 (what the reader observes, judged by the test)
                readings.append((time.monotonic(), f"{type(error).__name__}: {str(error)[:300]}"))

    thread = threading.Thread(target=reader, daemon=True)
    thread.start()
    time.sleep(2)
    assert record_audit(settings, results2).passed
    started = time.monotonic()
    warehouse.publish()
    finished = time.monotonic()
    time.sleep(2)
    stop.set()
    thread.join(timeout=120)
    seen["swap"] = {"started": started, "finished": finished, "readings": readings}
    seconds["second publish"] = finished - started
    # What the run measured (shown with -s): the docs quote it.
    during = [value for at, value in readings if started <= at <= finished]
    print(
        "\nspark publishing:",
        json.dumps(
            {
                "seconds": {step: round(value, 1) for step, value in seconds.items()},
                "views": len(seen["published_views"]),
                "tables copied": len(seen["second_copied"]),
                "readings": len(readings),
                "readings during the second publish": [str(value)[:120] for value in during],
            }
        ),
    )
    seen["second_pointer"] = warehouse.published_build()
    seen["databases_after_second"] = {name for (name,) in warehouse.sql("show databases")}
    seen["second_counts"] = {CHANGED: _count(warehouse, CHANGED)}
    seen["second_views"] = {row[1] for row in warehouse.sql("show views in tessera")}
    seen["second_launches"] = dict(
        warehouse.query_published(f"select journey_name, launch_build_id from {INCREMENTAL}")
    )
    return seen


def test_publishing_is_refused_without_a_passing_audit(publishing):
    databases = publishing["databases_after_refusals"]
    assert "tessera" not in databases, databases
    assert publishing["first"] in databases


def test_an_audited_publish_serves_the_build_through_views(publishing):
    assert publishing["first_pointer"] == publishing["first"]
    # Only views, one per table and view of the build.
    assert publishing["published_tables"] == publishing["published_views"] == publishing["first_relations"]
    for table, (published, built) in publishing["first_counts"].items():
        assert published == built > 0, (table, published, built)


def test_a_query_through_the_published_views_during_a_build_sees_the_previous_publish(publishing):
    during = publishing["during_build"]
    assert during["pointer"] == publishing["first"]
    assert during["counts"] == {table: publishing["first_counts"][table][0] for table in (CHANGED, DROPPED)}
    assert during["launches"] == publishing["first_launches"]


def test_the_next_build_starts_from_the_published_tables_and_increments_them(publishing):
    assert int(publishing["second"].rsplit("_", 1)[1]) == int(publishing["first"].rsplit("_", 1)[1]) + 1
    assert {CHANGED, INCREMENTAL, DROPPED} <= publishing["second_copied"]
    results = publishing["second_results"]
    assert results and set(results.values()) <= {"success", "pass"}, (results, publishing["second_log"])
    # journey_launches appended nothing: each journey keeps the launch of the first build.
    assert publishing["second_launches"] == publishing["first_launches"] != {}


def test_customer_ids_carry_over_to_the_next_build_through_delete_insert(publishing):
    """customer_id_map, incremental by delete+insert, run again on the copy of the published table: the
    same graph keeps every id, and each row now names its previous id (the row was replaced)."""
    first, second = publishing["ids"]["first"], publishing["ids"]["second"]
    assert first and all(previous is None for *_, previous, _ in first)
    assert [row[:3] + row[4:] for row in second] == [row[:3] + row[4:] for row in first]
    assert all(previous == customer_id for _, _, customer_id, previous, _ in second)


def test_a_second_publish_moves_the_views_and_drops_the_old_build(publishing):
    assert publishing["second_pointer"] == publishing["second"]
    databases = publishing["databases_after_second"]
    assert publishing["second"] in databases and publishing["first"] not in databases, databases
    assert publishing["second_counts"][CHANGED] == publishing["first_counts"][CHANGED][0] + 1
    assert DROPPED not in publishing["second_views"] and CHANGED in publishing["second_views"]


def test_a_reader_during_the_swap_sees_one_whole_build_or_the_other(publishing):
    """Every reading is the old count or the new one, never a missing view; after the swap, the new.
    A query still reading the old build's files when it is dropped may fail with missing files
    (docs/spark.md): allowed here only while the publish ran."""
    swap = publishing["swap"]
    old, new = publishing["first_counts"][CHANGED][0], publishing["second_counts"][CHANGED]
    values = [value for _, value in swap["readings"] if isinstance(value, int)]
    errors = [(at, value) for at, value in swap["readings"] if not isinstance(value, int)]
    assert len(values) >= 3 and set(values) <= {old, new}, (values, errors)
    assert values[0] == old and values[-1] == new
    for at, error in errors:
        assert swap["started"] <= at <= swap["finished"] + 5, error
        assert "TABLE_OR_VIEW_NOT_FOUND" not in str(error), error
        assert (
            "FileNotFound" in str(error) or "FAILED_READ_FILE" in str(error) or "does not exist" in str(error)
        ), error
