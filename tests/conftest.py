"""Shared fixtures: one small generated world and one isolated warehouse for the whole session."""

from __future__ import annotations

import fcntl
import json
import math
import os
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

# Point every path at a private folder *before* orchestration is imported: settings are read once.
_SESSION_DIR = Path(tempfile.mkdtemp(prefix="tessera-tests-"))
os.environ["TESSERA_TARGET"] = "duckdb"
os.environ["TESSERA_DATA_DIR"] = str(_SESSION_DIR / "data")
os.environ["TESSERA_WAREHOUSE"] = str(_SESSION_DIR / "warehouse" / "tessera.duckdb")
os.environ["TESSERA_BUILD_DB"] = str(_SESSION_DIR / "warehouse" / "build" / "tessera.duckdb")
os.environ["DAGSTER_HOME"] = str(_SESSION_DIR / "dagster_home")
os.environ["DBT_SEND_ANONYMOUS_USAGE_STATS"] = "false"
os.environ["DAGSTER_DISABLE_TELEMETRY"] = "true"
# Every dbt resource builds unless a test world says otherwise (tests/worlds.py, dbt_unit_tests_run_once).
os.environ.pop("DBT_EXCLUDE_RESOURCE_TYPES", None)
# Person sources a developer declared in sources/person_sources.yml stay out of the tests; the
# generated demo data declares its own (data/person_sources.yml).
os.environ["TESSERA_PERSON_SOURCES"] = str(_SESSION_DIR / "person_sources.yml")
(_SESSION_DIR / "dagster_home").mkdir(parents=True)
shutil.copyfile(
    Path(__file__).parent.parent / ".dagster" / "dagster.yaml", _SESSION_DIR / "dagster_home" / "dagster.yaml"
)

# The Postgres database the tests build in (several checkouts on one server each use their own).
# Each pytest-xdist worker builds in a database of its own, named after it: the raw_* schemas of
# every Postgres world have fixed names.
_PG_DATABASE = os.environ.get("TESSERA_TEST_PG_DATABASE", "test")
_WORKER = os.environ.get("PYTEST_XDIST_WORKER")
TEST_PG_DATABASE = f"{_PG_DATABASE}_{_WORKER}" if _WORKER else _PG_DATABASE
# The Postgres demo (tests/test_postgres.py) builds in a database of its own under pytest-xdist: one worker
# builds it while both read it, and no other world's build replaces the raw_* schemas it reads.
POSTGRES_DEMO_DATABASE = f"{_PG_DATABASE}_demo" if _WORKER else _PG_DATABASE

# Seconds each xdist group took in a measured run of the whole suite (pytest_collection_modifyitems).
GROUP_SECONDS = Path(__file__).parent / "group_seconds.json"

TEST_CUSTOMERS = 1500
TEST_SEED = 11


@pytest.fixture(scope="session", autouse=True)
def shared_parse_seeds(tmp_path_factory) -> Iterator[None]:
    """Every world of this test run starts dbt from a partial parse of its configuration made by an earlier
    world (orchestration/build/pipeline.py, PARSE_SEEDS_ENV), on whichever pytest-xdist worker: a new
    world's first dbt command then parses only what changed, not the whole project."""
    from orchestration.build.pipeline import PARSE_SEEDS_ENV
    from tests.worlds import run_wide_folder

    with pytest.MonkeyPatch.context() as monkeypatch:
        monkeypatch.setenv(PARSE_SEEDS_ENV, str(run_wide_folder(tmp_path_factory) / "dbt-parse-seeds"))
        yield


@pytest.fixture(scope="session", autouse=True)
def dbt_zygote() -> Iterator[tuple[subprocess.Popen, Path] | None]:
    """Every dbt command of this worker (its builds, and its `tessera` subprocesses') is a fork of one dbt
    process that imported dbt once (tests/dbt_zygote.py): about 2 CPU-seconds less per command.
    TESSERA_TEST_DBT_ZYGOTE=0 runs .venv/bin/dbt itself instead."""
    from orchestration.settings import DBT_EXECUTABLE_ENV
    from tests import dbt_zygote

    if os.environ.get("TESSERA_TEST_DBT_ZYGOTE") == "0":  # to run the suite with .venv/bin/dbt itself
        yield None
        return
    process, client = dbt_zygote.start(_SESSION_DIR / "dbt-zygote")
    try:
        with pytest.MonkeyPatch.context() as monkeypatch:
            monkeypatch.setenv(DBT_EXECUTABLE_ENV, str(client))
            yield process, client
    finally:
        process.kill()
        process.wait()


@pytest.fixture(scope="session")
def session_dir() -> Path:
    return _SESSION_DIR


@pytest.fixture(scope="session")
def settings():
    from orchestration.settings import Settings

    return Settings.from_env()


@pytest.fixture(scope="session")
def demo_data(settings):
    """A small generated world (the same one for every test that reads it)."""
    from orchestration.generate import generate

    return generate(customers=TEST_CUSTOMERS, seed=TEST_SEED, out=settings.data_dir)


@pytest.fixture(scope="session")
def dbt_manifest():
    """Parse the dbt project once, so that the Dagster definitions can be imported. It parses into the
    project's target/, so every test asking for it runs on the session's Dagster worker
    (pytest_collection_modifyitems); a module that builds worlds of its own asks for private_dbt_target
    instead (private_dbt_manifest where its code reads the manifest)."""
    from orchestration.build.project import dbt_project, prepare_manifest
    from orchestration.settings import Settings

    settings = Settings.from_env()
    manifest_path = dbt_project(settings.target).manifest_path
    # Under pytest-xdist the first worker parses, and the others leave the project's target/ alone.
    run = os.environ.get("PYTEST_XDIST_TESTRUNUID")
    target = manifest_path.parent
    stamp = target / ".parsed-for-test-run"
    target.mkdir(parents=True, exist_ok=True)
    with open(target / ".parsed-for-test-run.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not (run and stamp.exists() and stamp.read_text() == run):
            prepare_manifest(settings)
            stamp.write_text(run or "")
    return manifest_path


@pytest.fixture(scope="module")
def private_dbt_target(tmp_path_factory) -> Iterator[Path]:
    """A dbt target folder of the requesting module's own, named by DBT_TARGET_PATH while the module
    runs: its builds, erasures and `tessera` subprocesses then read and write dbt's files there, not in
    the project's target/ (build.project.dbt_project, the build's partial-parse seed, dagster-dbt's
    per-run folders and the erase proof all follow DBT_TARGET_PATH). So the module need not run on the
    session's Dagster worker, which reads the project's target/ (pytest_collection_modifyitems), and
    runs on either. DBT_TARGET_PATH is put back after the module: the next module on the same worker
    reads the project's target/ again. The folder starts empty (see private_dbt_manifest)."""
    folder = tmp_path_factory.mktemp("dbt-target")
    with pytest.MonkeyPatch.context() as monkeypatch:
        monkeypatch.setenv("DBT_TARGET_PATH", str(folder))
        yield folder


@pytest.fixture(scope="module")
def private_dbt_manifest(private_dbt_target) -> Path:
    """The project parsed into private_dbt_target, as dbt_manifest parses it into target/: for a module
    whose code reads the manifest (the erase proof takes the model id columns from it). Its partial
    parse does not spare a world's build the whole parse: dbt parses again for another warehouse file.
    What the parse sets besides (use_dbt_environment) is the session's settings, as dbt_manifest's."""
    from orchestration.build.project import prepare_manifest
    from orchestration.settings import Settings

    return prepare_manifest(Settings.from_env())


@pytest.fixture(scope="session")
def published(demo_data, dbt_manifest, settings):
    """The whole Dagster job, run once in-process on the demo data; returns the run result. The main
    DuckDB world: its build runs the dbt unit tests, which other worlds of the same configuration
    leave out (tests/worlds.py, dbt_unit_tests_run_once)."""
    from dagster import DagsterInstance

    from orchestration.definitions import defs

    assert "DBT_EXCLUDE_RESOURCE_TYPES" not in os.environ, "the main world builds every dbt resource"
    with DagsterInstance.get() as instance:
        result = (
            defs()
            .resolve_job_def("build_everything")
            .execute_in_process(instance=instance, raise_on_error=False)
        )
    assert result.success, [e.message for e in result.all_events if e.is_failure]
    return result


@pytest.fixture(scope="session")
def p3_postgres_builds(tmp_path_factory):
    """tests/test_probabilistic.py's world(P3_SHOP) on Postgres, built three times (first, again, full
    refresh: tests/test_train_apart.py, postgres_builds), then with tests/test_incremental_matching.py's
    increments: its settings, each of the three builds' outcome and the incremental chain's record of the
    first build and the increment. The tests reading it are in one xdist group (postgres_p3), so one worker
    builds it, once. Nothing may change what it published: tests/test_train_apart.py and
    tests/test_incremental_matching.py read what the fixture recorded, and tests/test_identity_diff.py's
    what-if builds in a scratch schema and checks the published one stays as it was."""
    from tests.test_train_apart import postgres_builds

    return postgres_builds(tmp_path_factory)


@pytest.fixture(scope="session")
def privacy_pg_world(tmp_path_factory):
    """The Postgres privacy world (tests/privacy/world.py, postgres_privacy_world), built once: its settings,
    published schema and declared table's schema. The tests reading it are in one xdist group (privacy_pg):
    tests/privacy/test_erasure_postgres.py, which erases from it, and tests/privacy/test_masked_ids.py's
    Postgres tests, whose checks hold before and after that erase."""
    from tests.privacy.world import postgres_privacy_world

    yield from postgres_privacy_world(tmp_path_factory)


def require_postgres() -> None:
    """Skip the calling test when no Postgres server answers on 127.0.0.1:5432, except under CI,
    where the Postgres target must be tested: there it fails, saying why."""
    try:
        import psycopg2

        psycopg2.connect(
            host="127.0.0.1", port=5432, user="postgres", dbname=TEST_PG_DATABASE, connect_timeout=3
        ).close()
    except Exception as exc:  # any failure to connect means: no server here
        problem = f"{type(exc).__name__}: {exc}".strip()
        if os.environ.get("CI"):
            pytest.fail(
                f"CI must run the Postgres tests, but Postgres at 127.0.0.1:5432 is unreachable: {problem}"
            )
        pytest.skip(f"no Postgres on 127.0.0.1:5432 ({problem}); the Postgres target is not tested here")


def _prepare_postgres() -> None:
    """Create this worker's database (and the Postgres demo's), and the role every Postgres build grants the masked views to
    (the default of macros/privacy/masking_warehouse.sql). Roles are cluster-wide: two workers'
    first builds must not race to create it."""
    try:
        import psycopg2

        con = psycopg2.connect(
            host="127.0.0.1", port=5432, user="postgres", dbname=_PG_DATABASE, connect_timeout=3
        )
    except Exception:  # no server here: the Postgres tests skip, or fail under CI, and say why
        return
    con.autocommit = True
    try:
        with con.cursor() as cur:
            cur.execute("select pg_advisory_lock(hashtext('tessera-tests'))")
            for database in (TEST_PG_DATABASE, POSTGRES_DEMO_DATABASE):
                cur.execute("select 1 from pg_database where datname = %s", (database,))
                if cur.fetchone() is None:
                    cur.execute(f'create database "{database}"')
            cur.execute("select 1 from pg_roles where rolname = 'tessera_masked_reader'")
            if cur.fetchone() is None:
                cur.execute("create role tessera_masked_reader nologin")
            cur.execute("select pg_advisory_unlock(hashtext('tessera-tests'))")
    finally:
        con.close()


if _WORKER:
    _prepare_postgres()


_SESSION_PROJECT_FIXTURES = {"published", "dbt_manifest"}


def _shared_fixtures(item: pytest.Item) -> set[str]:
    """The fixtures of `item` that outlive one test (module, class or package scope)."""
    defs = getattr(getattr(item, "_fixtureinfo", None), "name2fixturedefs", None)
    if defs is None:  # unknown: say everything is shared, which keeps the module together
        return set(getattr(item, "fixturenames", ()))
    return {
        name for name, found in defs.items() if found and found[-1].scope in ("module", "class", "package")
    }


@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(config, items):
    """Under pytest-xdist (--dist loadgroup) the tests that read the session's published warehouse
    or the project's target/ (the Dagster job, the manifest) run on one worker, which builds that
    world once; the rest of each module runs on one worker too, so its module fixtures are built
    once. A module whose module fixtures are used on both sides stays whole on the first. A test with an
    xdist_group mark goes to that group. The groups are then ordered by how long each took in a measured
    run (tests/group_seconds.json; tools/test_group_seconds.py refreshes it)."""
    if not getattr(config.option, "loadgroup", False):  # set on xdist's workers only
        return
    modules: dict[str, list[pytest.Item]] = {}
    groups: dict[str, str] = {}
    for item in items:
        modules.setdefault(item.nodeid.split("::")[0], []).append(item)
    for module, its in modules.items():
        dagster = [i for i in its if _SESSION_PROJECT_FIXTURES & set(getattr(i, "fixturenames", ()))]
        others = [i for i in its if i not in dagster]
        shared = set().union(*map(_shared_fixtures, dagster)) & set().union(*map(_shared_fixtures, others))
        for item in its:
            group = "dagster" if item in dagster or (dagster and shared) else module.removesuffix(".py")
            # A test marked @pytest.mark.xdist_group(name) runs with the other tests of that group
            # (a session fixture they share is then built once, on their worker).
            marked = item.get_closest_marker("xdist_group")
            if marked is not None and item not in dagster:
                group = marked.args[0] if marked.args else marked.kwargs["name"]
            # What loadgroup does for an xdist_group mark: the group goes after an "@" in the
            # test's id. pytest-xdist 3.8 writes it to `_nodeid`, which pytest 9.2 no longer reads.
            item._id = type(item._id).parse(f"{item.nodeid}@{group}")
            groups[item.nodeid] = group
    # Longest groups first (with --no-loadscope-reorder, xdist hands the groups out in this order, each to
    # the next worker that runs short): the last groups to start are short, so neither worker waits long
    # for the other at the end. A group not in the file (new, or never measured) counts as longest.
    seconds = json.loads(GROUP_SECONDS.read_text())
    order = {group: i for i, group in enumerate(dict.fromkeys(groups.values()))}
    items.sort(key=lambda item: (-seconds.get(groups[item.nodeid], math.inf), order[groups[item.nodeid]]))
