"""The same pipeline on Postgres: every model builds and passes its tests, with the same results as DuckDB."""

from __future__ import annotations

import fcntl
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import duckdb
import pytest

from orchestration.settings import Settings
from tests.conftest import POSTGRES_DEMO_DATABASE, TEST_CUSTOMERS, TEST_SEED, require_postgres
from tests.parity import assert_same_outcome, probabilistic_outcome
from tests.worlds import run_wide_folder

# The Postgres demo builds in a database of its own (tests/conftest.py, POSTGRES_DEMO_DATABASE): the worker
# that builds it may go on to build other Postgres worlds in its own database, whose raw_* schemas have the
# same names, while the tests comparing the demo with DuckDB's world run on the other worker.
PG = {"host": "127.0.0.1", "port": 5432, "user": "postgres", "dbname": POSTGRES_DEMO_DATABASE}
POSTGRES_ENV = {
    "TESSERA_PG_DATABASE": PG["dbname"],
    "TESSERA_PG_SCHEMA": "tessera_ci",
    "TESSERA_PG_BUILD_SCHEMA": "tessera_ci_build",
}
# The role allowed only the masked schema (macros/privacy/); roles are cluster-wide, hence the prefix.
MASKED_ROLE = "privacy_data_masked_reader"


@pytest.fixture(scope="session")
def postgres_run(demo_data, settings, session_dir, tmp_path_factory):
    """`tessera demo` on Postgres (the Dagster job a user runs), once per test run: the first worker to ask
    builds it while the others wait (a file lock), and all read its outcome. The tests that need only this
    world run apart from the session's Dagster worker (tests/conftest.py groups them by module, as this
    fixture is not a module's), so the build runs beside the DuckDB world's instead of after it; those
    comparing it with the DuckDB world run on the Dagster worker and find it built."""
    require_postgres()
    shared = run_wide_folder(tmp_path_factory) / "postgres-demo-run.json"
    with open(shared.with_name(f"{shared.name}.lock"), "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not shared.exists():
            done = _postgres_demo(demo_data, settings, session_dir, shared.with_name("postgres-demo-target"))
            shared.write_text(json.dumps([done.args, done.returncode, done.stdout, done.stderr]))
    completed = subprocess.CompletedProcess(*json.loads(shared.read_text()))
    assert completed.returncode == 0, completed.stdout[-5000:] + completed.stderr[-5000:]
    return completed


def _postgres_demo(demo_data, settings, session_dir, dbt_target: Path) -> subprocess.CompletedProcess:
    """Run `tessera demo` on Postgres over the session's generated files; its dbt target folder is
    `dbt_target` (the project's target/ holds the session's DuckDB parse, which the Dagster worker reads)."""
    import psycopg2

    # Start from nothing, as the DuckDB world does: raw schemas belong to the database, which every
    # world built in it shares (another world's decisions or person sources must not apply to this
    # one), and a published schema left by an earlier run would hand its customer ids on to this
    # build (ids are stable across builds), so the two warehouses would no longer agree.
    with psycopg2.connect(**PG) as con, con.cursor() as cur:
        cur.execute(
            "select schema_name from information_schema.schemata where left(schema_name, 4) = 'raw_'"
            " or schema_name like 'tessera\\_ci%'"
        )
        for (schema,) in cur.fetchall():
            cur.execute(f'drop schema "{schema}" cascade')
    # The session's generated files are this world's: `tessera demo --shapes contract` reuses them, as the
    # DuckDB world loads them (the loaders' shapes on Postgres: tests/test_postgres_demo.py).
    (settings.data_dir / "generated.json").write_text(
        json.dumps({"customers": TEST_CUSTOMERS, "seed": TEST_SEED, "shapes": "contract"})
    )
    env = {
        **os.environ,
        "TESSERA_TARGET": "postgres",
        **POSTGRES_ENV,
        "TESSERA_PG_MASKED_ROLE": MASKED_ROLE,
        "DAGSTER_HOME": str(session_dir / "dagster_home"),
        "DBT_TARGET_PATH": str(dbt_target),
        # A wide console, so rich never wraps the summary lines the assertions read.
        "COLUMNS": "200",
    }
    # The main Postgres world runs every dbt unit test, which other Postgres worlds of the same
    # configuration leave out (tests/worlds.py, dbt_unit_tests_run_once).
    env.pop("DBT_EXCLUDE_RESOURCE_TYPES", None)
    return subprocess.run(
        [
            str(Path(sys.executable).parent / "tessera"),
            "demo",
            "--customers",
            str(TEST_CUSTOMERS),
            "--seed",
            str(TEST_SEED),
            "--shapes",
            "contract",
        ],
        env=env,
        capture_output=True,
        text=True,
        timeout=1200,
    )


def _pg_query(sql: str) -> list[tuple]:
    import psycopg2

    with psycopg2.connect(**PG) as con, con.cursor() as cur:
        cur.execute("set search_path to tessera_ci, public")
        cur.execute(sql)
        return list(cur.fetchall())


def test_postgres_run_publishes_and_prints_summary(postgres_run):
    assert "succeeded" in postgres_run.stdout
    assert "schema tessera_ci" in postgres_run.stdout.replace("\n", " ")
    schemas = {s for (s,) in _pg_query("select schema_name from information_schema.schemata")}
    assert "tessera_ci" in schemas and "tessera_ci_build" not in schemas


def test_postgres_runs_every_test_of_the_project_once(postgres_run, tmp_path_factory):
    """The build's phases (the Python steps between them, the audience sandbox's invocation) between them
    run each data test and unit test of the project once: none is dropped because it reads a node of
    another phase (the analyst audiences' tests, `person_records_are_placed_or_unresolved`)."""
    manifest = json.loads(
        (run_wide_folder(tmp_path_factory) / "postgres-demo-target" / "manifest.json").read_text()
    )
    # A test this configuration disables (of another loader's base model) does not run.
    tests = [n for n in manifest["nodes"].values() if n["resource_type"] == "test" and n["config"]["enabled"]]
    assert {"person_records_are_placed_or_unresolved", "not_null_audience_lapsed_high_value_is_member"} <= {
        t["name"] for t in tests
    }
    counted = re.search(r"Tests: (\d+) passed, (\d+) warned", postgres_run.stdout)
    assert counted, postgres_run.stdout[-3000:]
    assert int(counted[1]) + int(counted[2]) == len(tests) + len(manifest["unit_tests"])


def test_postgres_and_duckdb_agree(postgres_run, published, settings):
    """Staged and quarantined counts per table and reason are identical on both warehouses."""
    con = duckdb.connect(str(settings.published_db), read_only=True)
    sql = "select source_name, table_name, quarantine_reason, row_count from quarantine_summary order by 1, 2, 3"
    duck = [tuple(r) for r in con.execute(sql).fetchall()]
    pg = [tuple(r) for r in _pg_query(sql)]
    assert duck == pg
    for model in ("stg_crm__contacts", "stg_shop__customers", "stg_events__tracks", "stg_pos__transactions"):
        duck_phones = con.execute(
            f"select count(distinct phone) from {model}"
            if "events" not in model
            else f"select count(*) from {model}"
        ).fetchone()[0]
        pg_phones = _pg_query(
            f"select count(distinct phone) from {model}"
            if "events" not in model
            else f"select count(*) from {model}"
        )[0][0]
        assert duck_phones == pg_phones, model
    duck_emails = con.execute("select email from stg_crm__contacts order by crm_contact_id").fetchall()
    pg_emails = _pg_query("select email from stg_crm__contacts order by crm_contact_id")
    assert [tuple(r) for r in duck_emails] == [tuple(r) for r in pg_emails]


def test_postgres_masked_role_reads_masked_views_only(postgres_run):
    """A real connection as the masked-reader role: masked views yes (PII hashed or redacted), the
    published models, the raw schemas and the salt no. The grants were made on the build's masked
    schema, so they survived the publish that renamed it."""
    import psycopg2
    from psycopg2 import errors

    published = _pg_query("select count(*), count(email) from customers")[0]
    salted = _pg_query(
        # The masked views show the customer id keyed like the email: look the row up by its pseudonym.
        "select md5(s.salt || c.email), md5(s.salt || c.customer_id) from customers as c, privacy_masking_salt as s "
        "where c.email is not null order by c.customer_id limit 1"
    )[0]
    with psycopg2.connect(**PG) as con, con.cursor() as cur:
        cur.execute(f'alter role "{MASKED_ROLE}" login')
    con = psycopg2.connect(**{**PG, "user": MASKED_ROLE})
    try:
        with con.cursor() as cur:
            cur.execute(
                "select count(*), count(email), bool_and(email ~ '^[0-9a-f]{32}$'), "
                "bool_and(street is null or street = '[redacted]') from tessera_ci_masked.customers"
            )
            assert cur.fetchone() == (published[0], published[1], True, True)
            cur.execute("select email from tessera_ci_masked.customers where customer_id = %s", (salted[1],))
            assert cur.fetchone()[0] == salted[0]
            cur.execute("select count(*) from tessera_ci_masked.events")
            assert cur.fetchone()[0] > 0
        for relation in ("tessera_ci.customers", "raw_crm.contacts", "tessera_ci.privacy_masking_salt"):
            with pytest.raises(errors.InsufficientPrivilege), con.cursor() as cur:
                cur.execute(f"select 1 from {relation} limit 1")
            con.rollback()
    finally:
        con.close()


def test_postgres_links_the_same_records_as_duckdb(postgres_run, published, settings):
    """Probabilistic matching on the demo world: the same model, pairs and probabilities (to 1e-6),
    edges, review queue and customers on both warehouses (Splink in a dbt Python model on DuckDB, in
    the pipeline's identity step on Postgres)."""
    duck = probabilistic_outcome(settings)
    pg = probabilistic_outcome(
        Settings.from_env({**os.environ, "TESSERA_TARGET": "postgres", **POSTGRES_ENV})
    )
    assert len(duck["pairs"]) > 500 and duck["review_queue"] and duck["edges"]
    assert_same_outcome(duck, pg)


def test_postgres_predictions_match_duckdb(postgres_run, published, settings):
    """The same customers (identity resolves them alike, probabilistic links included), the same
    feature snapshots and the same scoring code (a dbt Python model on DuckDB, the pipeline's scoring
    step on Postgres) give the same scores and the same model metrics."""
    con = duckdb.connect(str(settings.published_db), read_only=True)
    features = (
        "select snapshot_name, count(*), sum(orders_count), sum(activities_90_days), "
        "sum(coalesce(days_since_last_activity, 0)), sum(case when label_churned then 1 else 0 end), "
        "round(cast(sum(coalesce(label_revenue_365_days, 0)) as numeric(18, 2)), 2) from int_customer_features_snapshotted group by 1 order by 1"
    )
    assert [tuple(r) for r in con.execute(features).fetchall()] == [tuple(r) for r in _pg_query(features)]
    latest = "(select build_id from model_metrics order by built_at desc limit 1)"
    metrics = (
        "select model_name, metric_name, coalesce(decile, 0), metric_value, row_count "
        f"from model_metrics where build_id = {latest} order by 1, 2, 3"
    )
    duck = con.execute(metrics).fetchall()
    pg = _pg_query(metrics)
    con.close()
    assert len(duck) > 30
    # Row counts exactly; values to 1e-4: the BG/NBD optimiser sums in a different order on each side.
    assert [(m, n, d, c) for m, n, d, _, c in duck] == [(m, n, d, c) for m, n, d, _, c in pg]
    assert [v for *_, v, _ in duck] == pytest.approx([v for *_, v, _ in pg], rel=1e-4, abs=1e-9)
