"""Shared fixtures: one small generated world and one isolated warehouse for the whole session."""

from __future__ import annotations

import os
import shutil
import tempfile
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
# Person sources a developer declared in sources/person_sources.yml stay out of the tests; the
# generated demo data declares its own (data/person_sources.yml).
os.environ["TESSERA_PERSON_SOURCES"] = str(_SESSION_DIR / "person_sources.yml")
(_SESSION_DIR / "dagster_home").mkdir(parents=True)
shutil.copyfile(
    Path(__file__).parent.parent / ".dagster" / "dagster.yaml", _SESSION_DIR / "dagster_home" / "dagster.yaml"
)

# The Postgres database the tests build in (several checkouts on one server each use their own).
TEST_PG_DATABASE = os.environ.get("TESSERA_TEST_PG_DATABASE", "test")

TEST_CUSTOMERS = 1500
TEST_SEED = 11


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
    """Parse the dbt project once, so that the Dagster definitions can be imported."""
    from orchestration.project import tessera_project

    tessera_project.preparer.prepare(tessera_project)
    return tessera_project.manifest_path


@pytest.fixture(scope="session")
def published(demo_data, dbt_manifest, settings):
    """The whole Dagster job, run once in-process on the demo data; returns the run result."""
    from dagster import DagsterInstance

    from orchestration.definitions import defs

    result = defs.resolve_job_def("build_everything").execute_in_process(
        instance=DagsterInstance.get(), raise_on_error=False
    )
    assert result.success, [e.message for e in result.all_events if e.is_failure]
    return result
