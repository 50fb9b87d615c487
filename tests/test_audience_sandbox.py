"""Analyst SQL in a sandbox: audience SQL may read only the project's models.

The static half (orchestration/audiences/sqlcheck.py) refuses hostile SQL before anything runs;
the run-time half (macros/audiences/audience_sandbox.sql) makes the warehouse refuse it too, even
when the static check is switched off.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import yaml

from orchestration.audiences.rules import AudienceConfigError, load_project
from orchestration.audiences.sqlcheck import AudienceSqlRefused, check_sandboxed, relation_parts
from orchestration.settings import PROJECT_DIR

ORDERS = "{{ ref('orders') }}"

# (hostile SQL, the rule and the offending function or table its refusal must name)
HOSTILE = [
    # file readers and table functions
    ("select * from read_csv('/etc/passwd')", "table function read_csv()"),
    ("select customer_id from read_csv_auto('/etc/passwd')", "table function read_csv_auto()"),
    ("select * from read_parquet('/tmp/customers.parquet')", "table function read_parquet()"),
    ("select * from parquet_scan('/tmp/customers.parquet')", "table function parquet_scan()"),
    ("select * from read_json_auto('/tmp/x.json')", "table function read_json_auto()"),
    ("select * from read_text('/etc/passwd')", "table function read_text()"),
    ("select * from read_blob('/etc/passwd')", "table function read_blob()"),
    ("select * from glob('/etc/*')", "table function glob()"),
    ("select * from query_table('customers')", "table function query_table()"),
    ("select * from query('select * from customers')", "table function query()"),
    (f"select o.customer_id from {ORDERS} as o, lateral read_csv('/etc/passwd')", "read_csv()"),
    (
        f"select customer_id from {ORDERS} where customer_id in (select * from read_csv('/etc/passwd'))",
        "read_csv()",
    ),
    # strings and paths used as tables
    ("select * from '/etc/passwd'", "the table '\"/etc/passwd\"'"),
    (
        "select customer_id from 's3://bucket/customers.parquet'",
        "the table '\"s3://bucket/customers.parquet\"'",
    ),
    ('select customer_id from "https://example.com/x.csv"', "the table '\"https://example.com/x.csv\"'"),
    # Postgres file and admin functions
    ("select pg_read_file('/etc/passwd') as customer_id", "function pg_read_file()"),
    ("select pg_read_binary_file('/etc/passwd') as customer_id", "function pg_read_binary_file()"),
    ("select customer_id from pg_ls_dir('.') as customer_id", "table function pg_ls_dir()"),
    ("select pg_stat_file('postgresql.conf') as customer_id", "function pg_stat_file()"),
    ("select lo_import('/etc/passwd') as customer_id", "function lo_import()"),
    ("select lo_export(1, '/tmp/x') as customer_id", "function lo_export()"),
    ("select * from dblink('host=elsewhere', 'select 1') as t(customer_id int)", "table function dblink()"),
    ("select set_config('role', 'postgres', false) as customer_id", "function set_config()"),
    ("select current_setting('data_directory') as customer_id", "function current_setting()"),
    ("select getenv('HOME') as customer_id", "function getenv()"),
    (
        "select query_to_xml('select set_config(''role'', ''postgres'', true)', true, false, '') as customer_id",
        "function query_to_xml()",
    ),
    # catalogs and settings in a subquery
    (
        f"select customer_id from {ORDERS} where customer_id in (select table_name from information_schema.tables)",
        "the table 'information_schema.tables'",
    ),
    (
        f"select customer_id from {ORDERS} where customer_id in (select rolpassword from pg_catalog.pg_authid)",
        "the table 'pg_catalog.pg_authid'",
    ),
    (f"select customer_id from {ORDERS} where exists (select 1 from duckdb_settings())", "duckdb_settings()"),
    ("select customer_id from customers", "the table 'customers'"),  # a bare name, not a ref
    ("select customer_id from __tessera_ref__pg_settings", "reserved (rule: tables)"),  # a forged ref
    # a CTE name in scope is fine; the same name out of scope is the real catalog table
    ("with a as (select * from pg_settings), pg_settings as (select 1) select * from a", "'pg_settings'"),
    (
        "select * from (with pg_settings as (select 1) select * from pg_settings) as a, pg_settings",
        "'pg_settings'",
    ),
    # statements that are not one SELECT, comment-hidden ones included
    ("install httpfs", "statement, not a SELECT"),
    ("load httpfs", "statement, not a SELECT"),
    (f"select customer_id from {ORDERS}; install httpfs", "(rule: statements)"),
    (f"select customer_id from {ORDERS} -- a note\n; attach '/tmp/x.duckdb' as x", "holds 2 statements"),
    (f"select customer_id from {ORDERS} /* a note */; attach '/tmp/x.duckdb'", "holds 2 statements"),
    (f"select customer_id from {ORDERS} /* /* */ , read_csv('/etc/passwd') -- */", "(rule: comments)"),
    ("copy (select 1) to program 'id'", "COPY statement"),
    ("set enable_external_access = true", "SET statement"),
    ("pragma enable_profiling", "PRAGMA statement"),
    ("call pragma_version()", "statement, not a SELECT"),
    ("reset role", "statement, not a SELECT"),
    # unicode and quoting tricks
    ("select * from \"read_csv\"('/etc/passwd')", "read_csv()"),
    ("select * from Read_CSV('/etc/passwd')", "read_csv()"),
    ("select \uff52\uff45\uff41\uff44_csv('/etc/passwd') as customer_id", "\uff52\uff45\uff41\uff44_csv()"),
    ("select pg_catalog.pg_read_file('/etc/passwd') as customer_id", "(rule: functions)"),
    ("select main.lower('x') as customer_id", "schema-qualified function"),
    (
        f"select customer_id from {ORDERS} where '\\' = '\\' or pg_read_file('/etc/passwd') is not null -- '",
        "pg_read_file()",
    ),
]


@pytest.mark.parametrize("dialect", ["duckdb", "postgres"])
@pytest.mark.parametrize(("sql", "offender"), HOSTILE)
def test_hostile_sql_is_refused_naming_the_rule_and_the_offender(sql, offender, dialect):
    with pytest.raises(AudienceSqlRefused) as refused:
        check_sandboxed("evil", sql, dialect, what="sql condition 1")
    message = str(refused.value)
    assert message.startswith("audience evil: its sql condition 1 "), message
    assert "rule: " in message, message
    if not (dialect == "postgres" and "does not parse" in message):  # some DuckDB-only syntax
        assert offender in message, message


# Spark's own ways out (dialect "spark", the spark target): (hostile SQL, what the refusal must name).
SPARK_HOSTILE = [
    # path-qualified reads: any file the cluster can read, whatever the format
    ("select customer_id from parquet.`file:///etc/passwd`", "'parquet.`file:///etc/passwd`'"),
    ("select value as customer_id from text.`/etc/passwd`", "(rule: files)"),
    ("select _c0 as customer_id from csv.`/etc/passwd`", "(rule: files)"),
    ("select * from json.`/tmp/x.json`", "(rule: files)"),
    ("select * from binaryFile.`/etc/passwd`", "(rule: files)"),
    ("select * from `org.apache.spark.sql.execution.datasources.text`.`/etc/passwd`", "(rule: files)"),
    (
        f"select customer_id from {ORDERS} where customer_id in (select value from text.`/etc/passwd`)",
        "text.",
    ),
    ("with a as (select * from text.`/etc/passwd`) select value as customer_id from a", "(rule: files)"),
    ("select * from read_files('/etc/passwd')", "table function read_files()"),
    # Java calls
    ("select reflect('java.lang.System', 'getenv', 'HOME') as customer_id", "function reflect()"),
    ("select java_method('java.lang.System', 'getenv', 'HOME') as customer_id", "function java_method()"),
    ("select try_reflect('java.lang.Runtime', 'getRuntime') as customer_id", "function try_reflect()"),
    ("select `reflect`('java.lang.System', 'exit', 1) as customer_id", "function reflect()"),
    # programs, jars, functions, settings, session variables
    (
        f"select transform(customer_id) using 'cat /etc/passwd' as (customer_id) from {ORDERS}",
        "(rule: transform)",
    ),
    ("add jar /tmp/evil.jar", "statement, not a SELECT"),
    ("add file /etc/passwd", "statement, not a SELECT"),
    ("create function evil as 'x.Evil' using jar '/tmp/evil.jar'", "CREATE statement"),
    ("create temporary function evil as 'x.Evil' using jar '/tmp/evil.jar'", "CREATE statement"),
    (f"select customer_id from {ORDERS}; set spark.sql.runSQLOnFiles = true", "holds 2 statements"),
    ("set spark.sql.runSQLOnFiles = true", "SET statement"),
    ("reset", "statement, not a SELECT"),
    ("execute immediate 'select * from text.`/etc/passwd`'", "statement, not a SELECT"),
    ("declare variable v string", "statement, not a SELECT"),
    ("insert overwrite directory '/tmp/x' select 1", "INSERT statement"),
    ("load data local inpath '/etc/passwd' into table x", "statement, not a SELECT"),
    # variable substitution: the server's environment and JVM properties, in strings and comments too
    (
        f"select customer_id from {ORDERS} where '${{env:AWS_SECRET_ACCESS_KEY}}' <> ''",
        "(rule: substitution)",
    ),
    (f"select '${{system:user.home}}' as customer_id from {ORDERS}", "(rule: substitution)"),
    (f"select customer_id from {ORDERS} -- ${{spark.hadoop.fs.s3a.secret.key}}", "(rule: substitution)"),
    # tables outside the project's models: other databases, raw data, the published views
    ("select customer_id from raw_shop.customers", "the table 'raw_shop.customers'"),
    ("select customer_id from tessera.customer_traits", "the table 'tessera.customer_traits'"),
    ("select * from identifier('raw_shop.customers')", "table function identifier()"),
    (f"select customer_id from {ORDERS} /* /* */ , text.`/etc/passwd` -- */", "(rule: comments)"),
    (f"select /*+ repartition(1) */ customer_id from {ORDERS}", "function repartition()"),
]


@pytest.mark.parametrize(("sql", "offender"), SPARK_HOSTILE)
def test_hostile_spark_sql_is_refused_naming_the_rule_and_the_offender(sql, offender):
    with pytest.raises(AudienceSqlRefused) as refused:
        check_sandboxed("evil", sql, "spark", what="sql condition 1")
    message = str(refused.value)
    assert message.startswith("audience evil: its sql condition 1 "), message
    assert "rule: " in message, message
    assert offender in message, message


def test_spark_compiled_sql_may_read_only_its_refs_in_the_build_database():
    reads = {relation_parts("`tessera_build_3`.`orders`", "spark")}
    assert check_sandboxed(
        "fine", "select customer_id from `tessera_build_3`.`orders`", "spark", allowed_relations=reads
    )
    for sql, rule in [
        ("select customer_id from `tessera_build_2`.`orders`", "tables"),  # another build's database
        ("select customer_id from tessera.orders", "tables"),  # the published views
        ("select customer_id from raw_shop.orders", "tables"),
        ("select customer_id from parquet.`/work/warehouse/spark/tables/orders`", "files"),
    ]:
        with pytest.raises(AudienceSqlRefused, match=rf"rule: {rule}"):
            check_sandboxed("evil", sql, "spark", allowed_relations=reads)


def test_spark_hash_bucket_passes_on_spark_only():
    """spark__hash_bucket compiles to conv(), allowed for Spark (audience_memberships and audience_lift
    use it); DuckDB and Postgres keep refusing a function they do not have."""
    sql = f"select customer_id from {ORDERS} where cast(cast(conv(substr(md5(customer_id), 1, 8), 16, 10) as bigint) % 100 as integer) < 10"
    assert check_sandboxed("fine", sql, "spark") is not None
    for dialect in ("duckdb", "postgres"):
        with pytest.raises(AudienceSqlRefused, match=r"function conv\(\)"):
            check_sandboxed("evil", sql, dialect)


def test_spark_rules_are_spark_only():
    """DuckDB and Postgres keep their rules: a `${` in a string is text there."""
    sql = f"select customer_id from {ORDERS} where note <> '${{not a variable}}'"
    for dialect in ("duckdb", "postgres"):
        assert check_sandboxed("fine", sql, dialect) is not None
    with pytest.raises(AudienceSqlRefused, match="rule: substitution"):
        check_sandboxed("fine", sql, "spark")


@pytest.mark.parametrize("dialect", ["duckdb", "postgres"])
@pytest.mark.parametrize(
    "sql",
    [
        "select * from U&\"\\0072ead_csv\"('/etc/passwd')",  # a unicode-escaped identifier
        "select E'\\' , pg_read_file('/etc/passwd') -- ' as customer_id",  # escape-string quoting
    ],
)
def test_quoting_the_parser_cannot_follow_is_refused(sql, dialect):
    with pytest.raises(AudienceSqlRefused, match="does not parse|pg_read_file"):
        check_sandboxed("evil", sql, dialect)


@pytest.mark.parametrize("dialect", ["duckdb", "postgres", "spark"])
@pytest.mark.parametrize(
    "sql",
    [
        f"select customer_id from {ORDERS} where financial_status = 'paid' group by customer_id having sum(total_amount) > 1000",
        f"with big as (select customer_id, max(total_amount) as top from {ORDERS} group by 1) select customer_id from big where top > 10",
        "with recursive r as (select 1 as n union all select n + 1 from r where n < 3) select n as customer_id from r",
        f"select customer_id from {ORDERS} where lower(coalesce(channel, '')) = 'online' "
        "and cast(ordered_at as date) >= current_date - interval '30 days'",
        f"select o.customer_id from {ORDERS} as o where exists (select 1 from {{{{ ref('events') }}}} as e "
        "where e.customer_id = o.customer_id and e.event_name like 'product_%')",
        f"select customer_id from (select customer_id, row_number() over (partition by customer_id order by ordered_at) as n from {ORDERS}) as t where n = 3",
        f"select customer_id from {ORDERS} /* ; attach '/tmp/x.duckdb' is only a comment */",
    ],
)
def test_ordinary_analyst_sql_passes(sql, dialect):
    assert check_sandboxed("fine", sql, dialect) is not None


def test_compiled_sql_may_read_only_the_relations_it_refs():
    reads = {relation_parts('"tessera"."main"."orders"', "duckdb")}
    assert check_sandboxed(
        "fine", 'select customer_id from "tessera"."main"."orders"', "duckdb", allowed_relations=reads
    )
    for sql, table in [
        ('select customer_id from "tessera"."main"."customer_source_records"', "customer_source_records"),
        ('select customer_id from "tessera"."raw_crm"."contacts"', "raw_crm"),
        ("select customer_id from orders", "'orders'"),  # unqualified: not how dbt renders a ref
    ]:
        with pytest.raises(AudienceSqlRefused, match=r"rule: tables") as refused:
            check_sandboxed(
                "evil", sql, "duckdb", what="model audience_evil (compiled SQL)", allowed_relations=reads
            )
        assert table in str(refused.value)


def test_a_hostile_raw_condition_fails_the_rules_check_with_the_file_and_audience(tmp_path: Path):
    folder = tmp_path / "audiences"
    folder.mkdir()
    rule = {
        "all": [{"event": "x"}, {"name": "peek", "sql": "select customer_id from read_csv('/etc/passwd')"}]
    }
    (folder / "evil.yml").write_text(yaml.safe_dump({"name": "evil", "rule": rule}))
    with pytest.raises(AudienceConfigError) as error:
        load_project(folder)
    assert str(error.value).startswith(
        f"{folder / 'evil.yml'}: audience evil: its sql condition 1.2 calls the table function read_csv()"
    )


def test_the_shipped_audiences_pass_the_sandbox_check():
    project = load_project(PROJECT_DIR / "audiences", PROJECT_DIR / "models" / "audiences", "postgres")
    assert any(c.sql for a in project.audiences if a.rule for c in _leaves(a.rule))
    load_project(PROJECT_DIR / "audiences", PROJECT_DIR / "models" / "audiences", "duckdb")
    load_project(PROJECT_DIR / "audiences", PROJECT_DIR / "models" / "audiences", "spark")


def _leaves(condition):  # type: ignore[no-untyped-def]
    from orchestration.audiences.rules import walk

    return [c for _, c in walk(condition)]


@pytest.mark.parametrize("target", ["duckdb", "postgres"])
def test_every_shipped_audience_model_passes_the_compiled_check(tmp_path, target):
    """dbt compiles models/audiences/ (in a private place) and each model's SQL passes the sandbox."""
    from orchestration.audiences.check import check_audiences
    from tests.conftest import require_postgres
    from tests.worlds import world_settings

    if target == "postgres":
        require_postgres()
    settings = world_settings(tmp_path, target, pg_schema="tessera_sandbox")
    checked = check_audiences(settings, private=True)
    assert {"audience_emailable_big_spenders", "audience_memberships"} <= set(checked.models_checked)


# --- The run-time half: SQL that slipped past the static check still fails while it runs. ----------
# The overrides reach dbt through a copy of the audiences folder (TESSERA_AUDIENCES_DIR, the hook the
# loader offers), with the static check switched off: exactly the case of a condition the check
# failed to refuse. Each rewritten rule keeps its condition names, so the models' contracts still hold and
# the warehouse, not the contract, is what refuses.

SANDBOXED = ("emailable_big_spenders", "last_season_matchgoers_near_store", "browsing_valuable_customers")
FINE = f"select customer_id from {ORDERS} where total_amount > 0"


def _rewritten(node: dict, hostile: str, seen: list[bool]) -> dict:
    """The rule with its first leaf's condition replaced by `hostile` and every other leaf's by FINE,
    names kept (so the columns stay those of the contract)."""
    for group in ("all", "any"):
        if group in node:
            return {
                **({"name": node["name"]} if "name" in node else {}),
                group: [_rewritten(c, hostile, seen) for c in node[group]],
            }
    if "not" in node:
        return {
            **({"name": node["name"]} if "name" in node else {}),
            "not": _rewritten(node["not"], hostile, seen),
        }
    sql = FINE if seen else hostile
    seen.append(True)
    return {"name": node["name"], "sql": sql}


def _with_conditions(folder: Path, conditions: dict[str, str]) -> Path:
    """A copy of the audiences folder whose named audiences carry the given raw `sql:` condition."""
    shutil.copytree(PROJECT_DIR / "audiences", folder, dirs_exist_ok=True)
    for name, sql in conditions.items():
        path = folder / f"{name}.yml"
        audience = yaml.safe_load(path.read_text())
        audience["rule"] = _rewritten(audience["rule"], sql, [])
        path.write_text(yaml.safe_dump(audience))
    return folder


def _build_audiences(settings, conditions: dict[str, str], folder: Path, monkeypatch) -> dict[str, dict]:
    from orchestration.audiences import rules
    from orchestration.audiences.definitions import AUDIENCES_DIR_ENV
    from orchestration.build.pipeline import run_dbt

    selection = [f"audience_{name}" for name in conditions]
    with monkeypatch.context() as patch:
        patch.setenv(AUDIENCES_DIR_ENV, str(_with_conditions(folder, conditions)))
        # Every dbt invocation validates the folder first; switch that static check off here, so
        # only the warehouse stands between the SQL and the files.
        patch.setattr(rules, "check_sandboxed", lambda *args, **kwargs: None)
        results = run_dbt(settings, ["run", "--select", *selection])
    return {r["unique_id"].split(".")[-1]: r for r in results["results"]}


# What the Postgres tests below read: the analyst audience models (built as the role), what they read,
# and the tail after them (the memberships and their holdout test). The syncs, retention and quality
# marts are left out; the plan tests read the build's manifest, which dbt writes whole for any selection.
AUDIENCE_LAYER = ["+audience_memberships", "+audience_explanations", "+audience_priority_list_members"]


def _built_world(root: Path, target: str):  # type: ignore[no-untyped-def]
    from orchestration.build.pipeline import build
    from tests.test_audience_builds import world
    from tests.worlds import dbt_unit_tests_run_once, world_settings, write_world

    settings = world_settings(root, target, pg_schema="tessera_sandbox")
    write_world(settings.data_dir, world(False))
    # The default configuration: the Postgres demo (tests/test_postgres.py) runs the dbt unit tests,
    # the sandboxed audiences' ones as the role included.
    with dbt_unit_tests_run_once():
        # the shipped audiences build in the sandbox
        assert build(settings, publish=False, select=AUDIENCE_LAYER).audit.passed
    return settings


@pytest.fixture(scope="module")
def duckdb_world(tmp_path_factory):
    """world(False) built on DuckDB, where every build runs with file access switched off: a copy of
    tests/test_audience_builds.py's first build (built once per test run, the audience models and what they
    read), with its published file as the build file the audiences below build into."""
    from tests.test_audience_builds import first_audience_world

    settings = first_audience_world(tmp_path_factory, tmp_path_factory.mktemp("sandbox-duckdb"))
    settings.build_db.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(settings.published_db, settings.build_db)
    return settings


def test_duckdb_audiences_build_without_file_access(duckdb_world, tmp_path, monkeypatch):
    secret = tmp_path / "secret.csv"
    secret.write_text("customer_id\nLEAKED\n")
    fine = FINE
    built = _build_audiences(duckdb_world, dict.fromkeys(SANDBOXED, fine), tmp_path / "fine", monkeypatch)
    assert {r["status"] for r in built.values()} == {"success"}
    hostile = {
        "emailable_big_spenders": f"select customer_id from read_csv('{secret}')",
        "last_season_matchgoers_near_store": f"select customer_id from '{secret}'",
        "browsing_valuable_customers": f"select file as customer_id from glob('{tmp_path}/*')",
    }
    for sql in hostile.values():
        with pytest.raises(AudienceSqlRefused):  # the static check would have refused each
            check_sandboxed("evil", sql, "duckdb")
    with pytest.raises(AudienceConfigError, match="rule: "):  # as it does reading the folder
        load_project(_with_conditions(tmp_path / "hostile-check", hostile), dialect="duckdb")
    results = _build_audiences(duckdb_world, hostile, tmp_path / "hostile", monkeypatch)
    for name in SANDBOXED:
        result = results[f"audience_{name}"]
        assert result["status"] == "error", result
        assert "file system operations are disabled by configuration" in result["message"], result["message"]


@pytest.fixture(scope="module")
def postgres_world(tmp_path_factory):
    from tests.conftest import require_postgres

    require_postgres()
    return _built_world(tmp_path_factory.mktemp("sandbox-postgres"), "postgres")


def _sandbox_audiences(
    settings, conditions: dict[str, str], folder: Path, monkeypatch, *, plan_from_build: bool = False
) -> dict[str, dict]:
    """Postgres: the build's sandbox step alone (logged in as the role) over the built schema, with
    the static check switched off; the results by node name (a breach under audience_sandbox).
    `plan_from_build`: the sandbox plan comes from the world's build (its manifest), not from a parse
    of the rewritten audiences: a rewritten rule keeps its audience's name, and its raw SQL adds no
    model to read, so the plan is the same, and a dbt parse (a whole one: the vars changed) is saved."""
    import json

    from orchestration.audiences import rules
    from orchestration.audiences.definitions import AUDIENCES_DIR_ENV
    from orchestration.build.pipeline import build_sandboxed_audiences

    manifest_path = settings.build_db.parent / "dbt-target-postgres" / "manifest.json"
    manifest = json.loads(manifest_path.read_text()) if plan_from_build else None
    with monkeypatch.context() as patch:
        patch.setenv(AUDIENCES_DIR_ENV, str(_with_conditions(folder, conditions)))
        patch.setattr(rules, "check_sandboxed", lambda *args, **kwargs: None)
        # the unit tests' expectations do not hold for the rewritten rules (dbt would skip the models)
        results = build_sandboxed_audiences(
            settings,
            select=[f"audience_{name}" for name in conditions],
            args=["--exclude-resource-type", "unit_test"],
            manifest=manifest,
        )
    return {r["unique_id"].split(".")[-1]: r for r in results if r["unique_id"].startswith("model.")}


def _pg(settings):  # type: ignore[no-untyped-def]
    from orchestration.warehouse.registry import get_warehouse

    con = get_warehouse(settings).connect()  # type: ignore[attr-defined]
    con.autocommit = True
    return con


# Two rounds over the rule audiences, each (audience, hostile condition, what the refusal names):
# every one of them builds when the session is the build's superuser.
PG_HOSTILE = [
    [
        (
            "emailable_big_spenders",
            "select pg_read_file('/etc/hostname') as customer_id",
            "function pg_read_file",
        ),
        (
            "browsing_valuable_customers",
            "select customer_id from pg_ls_dir('.') as customer_id",
            "function pg_ls_dir",
        ),
        (
            "last_season_matchgoers_near_store",
            "select set_config('role', 'postgres', true) as customer_id",
            'permission denied to set role "postgres"',
        ),
    ],
    [
        (
            "emailable_big_spenders",
            "select lo_import('/etc/hostname')::text as customer_id",
            "function lo_import",
        ),
        (
            "browsing_valuable_customers",
            "select cast(email as text) as customer_id from raw_shop.customers",
            "raw_shop",
        ),
        (
            # leaving the role (set_config role none, as `reset role`) lands on the session user: the role
            "last_season_matchgoers_near_store",
            "select set_config('role', 'none', true) || pg_read_file('/etc/hostname') as customer_id",
            "function pg_read_file",
        ),
    ],
]
ANALYST_MODELS = {
    f"audience_{name}"
    for name in (*SANDBOXED, "cart_abandoners_7d", "lapsed_high_value", "likely_churners_open_tickets")
}


def test_postgres_the_role_cannot_leave_itself_or_read_files(postgres_world):
    """What dbt's connection as the role can do, statement by statement: not `set role` to the
    build's user, `reset role` stays the role, and no file or program function runs."""
    import psycopg2

    from orchestration.warehouse.postgres_sandbox import DEFAULT_ROLE

    settings = postgres_world
    con = psycopg2.connect(**{**settings.postgres.connect_kwargs(), "user": DEFAULT_ROLE})
    con.autocommit = True
    try:
        with con.cursor() as cur:
            for sql, refusal in [
                ("set role postgres", 'permission denied to set role "postgres"'),
                ("select set_config('role', 'postgres', false)", 'permission denied to set role "postgres"'),
                (
                    "select set_config('session_authorization', 'postgres', false)",
                    "permission denied to set session",
                ),
                (
                    "reset role; select pg_read_file('/etc/hostname')",
                    "permission denied for function pg_read_file",
                ),
                ("select pg_ls_dir('.')", "permission denied for function pg_ls_dir"),
                ("select lo_import('/etc/hostname')", "permission denied for function lo_import"),
                ("copy (select 1) to program 'id'", "must be superuser or have privileges of"),
                ("create schema sneaky", "permission denied for database"),
            ]:
                with pytest.raises(psycopg2.Error) as refused:
                    cur.execute(sql)
                assert refusal in str(refused.value), (sql, str(refused.value))
            cur.execute("reset role; select current_user, session_user")
            assert cur.fetchone() == (DEFAULT_ROLE, DEFAULT_ROLE)
    finally:
        con.close()


def test_postgres_a_sandboxed_model_on_the_build_connection_fails_in_its_pre_hook(postgres_world):
    from orchestration.build.pipeline import run_dbt

    results = [
        r
        for r in run_dbt(postgres_world, ["run", "--select", "audience_cart_abandoners_7d"])["results"]
        if r["unique_id"].startswith("model.")
    ]
    assert [r["status"] for r in results] == ["error"], results
    assert "must build logged in as tessera_analyst_sql" in results[0]["message"], results[0]["message"]


def test_the_sandbox_plan_holds_back_the_analyst_models_and_what_follows(postgres_world):
    import json
    import re

    from orchestration.build.audience_sandbox import PROJECT_MODELS, SandboxPlan

    manifest_path = postgres_world.build_db.parent / "dbt-target-postgres" / "manifest.json"
    plan = SandboxPlan.from_manifest(json.loads(manifest_path.read_text()))
    assert set(plan.models) == ANALYST_MODELS
    assert "rule_audience_windows_groups_and_references" in plan.sandboxed  # a unit test runs its model's SQL
    assert {"audience_memberships", "holdouts_are_a_hash_of_audience_and_customer"} <= plan.tail
    assert {"customer_traits", "events", "orders"} <= set(plan.reads)
    assert not [name for name in plan.reads if name.startswith("audience_")]
    # the macro decides what is sandboxed from the same list
    macro = (PROJECT_DIR / "macros" / "audiences" / "audience_sandbox.sql").read_text()
    listed = re.search(r"set project_models = \[(.*?)\]", macro, re.S)
    assert listed and set(re.findall(r"'(\w+)'", listed.group(1))) == PROJECT_MODELS


def _schema_with_upstream(cur, schema: str) -> None:  # type: ignore[no-untyped-def]
    cur.execute(f'drop schema if exists "{schema}" cascade')
    cur.execute(f'create schema "{schema}"')
    cur.execute(f'create table "{schema}".orders as select 1 as customer_id')
    cur.execute(f'create table "{schema}".audience_a as select 0 as customer_id')  # the last build's


def test_postgres_two_builds_sandbox_one_at_a_time_each_in_its_own_schema(caplog):
    """Two builds (two worlds, one cluster-wide role): while A's sandbox is open, B's waits for the
    sandbox lock, so the role never holds B's grants or owns B's tables during A's analyst SQL. A
    closes (finding the view and function it left, handing its table back), then B proceeds: the role
    can no longer reach A's schema and A's tables are intact and the build user's."""
    import contextlib
    import logging
    import threading

    import psycopg2
    import psycopg2.errors

    from orchestration.settings import PostgresSettings
    from orchestration.warehouse.postgres_sandbox import (
        DEFAULT_ROLE,
        SandboxGrants,
        close_sandbox,
        ensure_role,
        lock_connection,
        open_sandbox,
        sandbox_lock,
    )
    from tests.conftest import TEST_PG_DATABASE, require_postgres

    require_postgres()
    caplog.set_level(logging.INFO, logger="orchestration.warehouse.postgres_sandbox")
    pg = PostgresSettings("127.0.0.1", 5432, "postgres", "", TEST_PG_DATABASE, "x", "x")
    build = psycopg2.connect(**pg.connect_kwargs())
    role = None
    worlds = {
        s: SandboxGrants(schema=s, models=("audience_a",), reads=((s, "orders"),))
        for s in ("tsb_one", "tsb_two")
    }
    lock_a, lock_b = lock_connection(pg), lock_connection(pg)
    held_a, held_b = contextlib.ExitStack(), contextlib.ExitStack()
    waiting_b = threading.Thread(target=held_b.enter_context, args=(sandbox_lock(lock_b, DEFAULT_ROLE, 60),))
    waiting_b.daemon = True
    try:
        with build.cursor() as cur:
            ensure_role(cur, DEFAULT_ROLE, "postgres")
            for schema in worlds:
                _schema_with_upstream(cur, schema)
        build.commit()
        held_a.enter_context(sandbox_lock(lock_a, DEFAULT_ROLE))
        open_sandbox(build, worlds["tsb_one"], DEFAULT_ROLE)
        # B's open waits: a short timeout gives up, a build without one blocks until A closes
        with pytest.raises(psycopg2.errors.LockNotAvailable), sandbox_lock(lock_b, DEFAULT_ROLE, timeout=0.3):
            pytest.fail("B's sandbox lock was taken while A's sandbox was open")
        assert "waiting for another build's sandbox (role tessera_analyst_sql) to close" in caplog.text
        waiting_b.start()
        waiting_b.join(0.5)
        assert waiting_b.is_alive()
        role = psycopg2.connect(**{**pg.connect_kwargs(), "user": DEFAULT_ROLE})
        role.autocommit = True
        with role.cursor() as cur:  # what dbt's table materialization does, as the role, in A
            cur.execute("create table tsb_one.audience_a__dbt_tmp as select customer_id from tsb_one.orders")
            cur.execute("alter table tsb_one.audience_a rename to audience_a__dbt_backup")
            cur.execute("alter table tsb_one.audience_a__dbt_tmp rename to audience_a")
            cur.execute("drop table tsb_one.audience_a__dbt_backup")
            cur.execute("create view tsb_one.peek as select * from tsb_one.audience_a")
            cur.execute("create function tsb_one.f() returns int language sql as 'select 1'")
            cur.execute("grant select on tsb_one.audience_a to public")
            # A's analyst SQL cannot reach B's world: B has granted nothing yet
            with pytest.raises(psycopg2.Error, match="permission denied for schema tsb_two"):
                cur.execute("select count(*) from tsb_two.orders")
            with pytest.raises(psycopg2.Error, match="permission denied for schema tsb_two"):
                cur.execute("truncate tsb_two.audience_a")
        breaches = close_sandbox(build, worlds["tsb_one"], DEFAULT_ROLE, "postgres")
        assert sorted(breaches) == [
            "function tsb_one.f()",
            "grants on tsb_one.audience_a to public",
            "view tsb_one.peek",
        ]
        assert waiting_b.is_alive()  # until A lets go of the lock
        held_a.close()
        waiting_b.join(10)
        assert not waiting_b.is_alive()
        with build.cursor() as cur:  # B holds the lock now
            cur.execute(
                "select count(*) from pg_locks where locktype = 'advisory' and granted and pid = %s",
                (lock_b.get_backend_pid(),),
            )
            assert cur.fetchone() == (1,)
        build.commit()
        open_sandbox(build, worlds["tsb_two"], DEFAULT_ROLE)
        with role.cursor() as cur:  # B builds; A's world is out of reach
            cur.execute("create table tsb_two.audience_a__dbt_tmp as select customer_id from tsb_two.orders")
            cur.execute("alter table tsb_two.audience_a rename to audience_a__dbt_backup")
            cur.execute("alter table tsb_two.audience_a__dbt_tmp rename to audience_a")
            cur.execute("drop table tsb_two.audience_a__dbt_backup")
            for hostile in ("select count(*) from tsb_one.orders", "truncate tsb_one.audience_a"):
                with pytest.raises(psycopg2.Error, match="permission denied for schema tsb_one"):
                    cur.execute(hostile)
        with build.cursor() as cur:
            cur.execute(
                "select schemaname, tablename, tableowner from pg_tables where schemaname like 'tsb_%%' order by 1, 2"
            )
            assert cur.fetchall() == [
                ("tsb_one", "audience_a", "postgres"),
                ("tsb_one", "orders", "postgres"),
                ("tsb_two", "audience_a", DEFAULT_ROLE),  # B's build goes on
                ("tsb_two", "orders", "postgres"),
            ]
            cur.execute("select count(*) from tsb_one.audience_a")
            assert cur.fetchone() == (1,)  # A's rebuilt table, intact
        build.commit()
        assert close_sandbox(build, worlds["tsb_two"], DEFAULT_ROLE, "postgres") == []
        held_b.close()
        with build.cursor() as cur:
            cur.execute(
                "select tableowner from pg_tables where schemaname = 'tsb_two' and tablename = 'audience_a'"
            )
            assert cur.fetchone() == ("postgres",)
            cur.execute("select has_table_privilege(%s, 'tsb_two.orders', 'select')", (DEFAULT_ROLE,))
            assert cur.fetchone() == (False,)
        build.commit()
    finally:
        if role is not None:
            role.close()
        lock_a.close()  # lets a still waiting B go
        if waiting_b.ident is not None:
            waiting_b.join(10)
        lock_b.close()
        build.rollback()
        with build.cursor() as cur:
            for schema in worlds:
                cur.execute(f'drop schema if exists "{schema}" cascade')
        build.commit()
        build.close()


def test_postgres_an_unsafe_sandbox_role_stops_the_build_before_anything_runs():
    import uuid

    import psycopg2

    from orchestration.warehouse.postgres_sandbox import SandboxRefused, ensure_role
    from tests.conftest import TEST_PG_DATABASE, require_postgres

    require_postgres()
    con = psycopg2.connect(host="127.0.0.1", port=5432, user="postgres", dbname=TEST_PG_DATABASE)
    con.autocommit = True
    name = f"tessera_test_sandbox_{uuid.uuid4().hex[:8]}"
    try:
        with con.cursor() as cur:
            with pytest.raises(SandboxRefused, match="is the build's own user"):
                ensure_role(cur, "postgres", "postgres")
            ensure_role(cur, name, "postgres")  # created, safe
            cur.execute("select rolcanlogin, rolsuper from pg_roles where rolname = %s", (name,))
            assert cur.fetchone() == (True, False)
            for change, problem in [
                ("alter role {} createdb", "it has createdb"),
                (
                    "alter role {} nocreatedb; grant pg_read_server_files to {}",
                    "member of the role pg_read_server_files",
                ),
                ("revoke pg_read_server_files from {}; alter role {} superuser", "it has superuser"),
            ]:
                cur.execute(change.format(f'"{name}"', f'"{name}"'))
                with pytest.raises(SandboxRefused, match=problem):
                    ensure_role(cur, name, "postgres")
    finally:
        with con.cursor() as cur:
            cur.execute(f'drop role if exists "{name}"')
        con.close()


def test_postgres_the_sandbox_password_reaches_the_server_only_hashed():
    import uuid

    import psycopg2
    import psycopg2.extensions

    from orchestration.warehouse.postgres_sandbox import ensure_role
    from tests.conftest import TEST_PG_DATABASE, require_postgres

    require_postgres()
    con = psycopg2.connect(host="127.0.0.1", port=5432, user="postgres", dbname=TEST_PG_DATABASE)
    con.autocommit = True
    name = f"tessera_test_sandbox_{uuid.uuid4().hex[:8]}"
    secret = "correct horse battery staple"
    sent: list[str] = []

    class Recording(psycopg2.extensions.cursor):
        def execute(self, query, args=None):  # type: ignore[no-untyped-def]
            sent.append(self.mogrify(query, args).decode())
            return super().execute(query, args)

    try:
        with con.cursor(cursor_factory=Recording) as cur:
            ensure_role(cur, name, "postgres", password=secret)
            cur.execute("select rolpassword from pg_authid where rolname = %s", (name,))
            stored = cur.fetchone()[0]
        assert stored.startswith("SCRAM-SHA-256$")
        assert sent and not any(secret in statement for statement in sent)
    finally:
        with con.cursor() as cur:
            cur.execute(f'drop role if exists "{name}"')
        con.close()


def test_postgres_what_the_role_leaves_besides_its_tables_fails_the_build(postgres_world, monkeypatch):
    """The sandbox step with a stand-in for dbt that, as the role, leaves a view and a function in the
    build schema: both are dropped, the build fails naming them and nothing is published."""
    import json

    import psycopg2

    from orchestration.build import pipeline
    from orchestration.build.audience_sandbox import SandboxPlan
    from orchestration.warehouse.audit import PublishBlocked
    from orchestration.warehouse.postgres_sandbox import DEFAULT_ROLE
    from orchestration.warehouse.registry import get_warehouse

    settings = postgres_world
    schema = settings.postgres.build_schema
    manifest_path = settings.build_db.parent / "dbt-target-postgres" / "manifest.json"
    plan = SandboxPlan.from_manifest(json.loads(manifest_path.read_text()))

    def hostile_dbt(selection):  # type: ignore[no-untyped-def]
        con = psycopg2.connect(**{**settings.postgres.connect_kwargs(), "user": DEFAULT_ROLE})
        con.autocommit = True
        with con, con.cursor() as cur:
            cur.execute(f'create view "{schema}".peek as select * from "{schema}".audience_lapsed_high_value')
            cur.execute(f"create function \"{schema}\".leak() returns int language sql as 'select 1'")
        con.close()
        return [{"unique_id": "model.tessera.audience_lapsed_high_value", "status": "success"}]
        yield

    steps = pipeline._in_sandbox(settings, plan, hostile_dbt)
    with pytest.raises(StopIteration) as done:
        next(steps)
    results = done.value.value
    messages = sorted(r["message"] for r in results if r["status"] == "error")
    assert messages == [
        f"audience sandbox breached: the role {DEFAULT_ROLE} left function {schema}.leak() (dropped)",
        f"audience sandbox breached: the role {DEFAULT_ROLE} left view {schema}.peek (dropped)",
    ]
    with _pg(settings) as con, con.cursor() as cur:
        cur.execute("select to_regclass(%s), to_regprocedure(%s)", (f"{schema}.peek", f"{schema}.leak()"))
        assert cur.fetchone() == (None, None)
        cur.execute(
            "select tableowner from pg_tables where schemaname = %s and tablename = 'audience_lapsed_high_value'",
            (schema,),
        )
        assert cur.fetchone() == ("postgres",)
    with pytest.raises(PublishBlocked):
        pipeline.record_audit(settings, results)
        get_warehouse(settings).publish()


# Last of the module's tests on the Postgres world: its sandboxed builds of rewritten audiences parse the project
# with other vars, in the build's target folders too (the plan of the last one), so a dbt command after them on
# the world's own configuration would parse the whole project again, where the tests above start from the
# world build's parse (and read its manifest).
def test_postgres_audiences_build_logged_in_as_a_role_without_file_or_superuser_rights(
    postgres_world, tmp_path, monkeypatch
):
    from orchestration.build.pipeline import record_audit
    from orchestration.warehouse.audit import PublishBlocked
    from orchestration.warehouse.registry import get_warehouse

    settings = postgres_world
    with _pg(settings) as con, con.cursor() as cur:
        cur.execute(
            "select tablename, tableowner from pg_tables where schemaname = %s and tablename like 'audience_%%'",
            (settings.postgres.build_schema,),
        )
        owners = dict(cur.fetchall())
        # handed back after the sandboxed invocation, grants revoked
        assert {owners[name] for name in ANALYST_MODELS} == {"postgres"}
        cur.execute(
            "select count(*) from information_schema.role_table_grants where grantee = 'tessera_analyst_sql' "
            "and table_schema = %s",
            (settings.postgres.build_schema,),
        )
        assert cur.fetchone()[0] == 0
        cur.execute(
            "select has_schema_privilege('tessera_analyst_sql', %s, 'usage')",
            (settings.postgres.build_schema,),
        )
        assert cur.fetchone()[0] is False
    for round_number, hostile_round in enumerate(PG_HOSTILE):
        hostile = {name: sql for name, sql, _ in hostile_round}
        with pytest.raises(AudienceConfigError, match="rule: "):  # the static check refuses them
            load_project(_with_conditions(tmp_path / f"check-{round_number}", hostile), dialect="postgres")
        results = _sandbox_audiences(
            settings, hostile, tmp_path / f"hostile-{round_number}", monkeypatch, plan_from_build=True
        )
        for name, _, denied in hostile_round:
            result = results[f"audience_{name}"]
            assert result["status"] == "error", result
            assert "permission denied" in result["message"] and denied in result["message"], result["message"]
        with pytest.raises(PublishBlocked):  # nothing is published
            record_audit(settings, list(results.values()))
            get_warehouse(settings).publish()
    results = _sandbox_audiences(settings, dict.fromkeys(SANDBOXED, FINE), tmp_path / "fine", monkeypatch)
    assert {r["status"] for r in results.values()} == {"success"}, results
