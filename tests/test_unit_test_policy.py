"""dbt unit tests run when the code changed since they last passed (orchestration/build/unit_tests.py).
The rules are checked on a copy of the project's code, with no world built; the session's published world
shows that a real build, the Dagster job's, records the code its unit tests passed on."""

from __future__ import annotations

import dataclasses
import os
import shutil
from pathlib import Path

import pytest

from orchestration.build.unit_tests import (
    code_fingerprint,
    manifest_unit_tests,
    unit_tests_when_code_changed,
    verified_code,
)
from orchestration.settings import PROJECT_DIR, Settings
from orchestration.warehouse.audit import Audit

CODE = ["models", "macros", "seeds", "tests/dbt", "audiences", "journeys", "sources", "dbt_project.yml"]


@pytest.fixture
def project(tmp_path: Path) -> Path:
    """A copy of what the fingerprint reads."""
    copy = tmp_path / "project"
    for name in CODE:
        source = PROJECT_DIR / name
        if source.is_dir():
            shutil.copytree(source, copy / name, ignore=shutil.ignore_patterns("__pycache__"))
        elif source.exists():
            (copy / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy(source, copy / name)
    return copy


def _settings(project: Path, tmp_path: Path, target: str = "duckdb") -> Settings:
    base = Settings.from_env({"TESSERA_WAREHOUSE": str(tmp_path / "warehouse" / "tessera.duckdb")})
    return dataclasses.replace(base, project_dir=project, target=target)


def _publish_audit(settings: Settings, code: str | None) -> None:
    Audit(True, [], 10, 0, 5, 0.0, unit_tests_code=code).write(settings.last_audit_path)


def test_the_fingerprint_follows_the_code_the_vars_and_the_target(project: Path, tmp_path: Path) -> None:
    settings = _settings(project, tmp_path)
    first = code_fingerprint(settings)
    assert code_fingerprint(settings) == first
    assert code_fingerprint(settings, {"audience_lift_as_of": "2026-01-01"}) != first
    assert code_fingerprint(_settings(project, tmp_path, target="postgres")) != first
    (project / "logs").mkdir()
    (project / "logs" / "dbt.log").write_text("not code")
    assert code_fingerprint(settings) == first
    model = next((project / "models").rglob("*.sql"))
    model.write_text(model.read_text() + "\n-- an edit\n")
    assert code_fingerprint(settings) != first


def test_an_edited_macro_or_audience_runs_them_again(project: Path, tmp_path: Path) -> None:
    settings = _settings(project, tmp_path)
    _publish_audit(settings, code_fingerprint(settings))
    macro = next((project / "macros").rglob("*.sql"))
    macro.write_text(macro.read_text() + "\n")
    with unit_tests_when_code_changed(settings, code_fingerprint(settings)) as skipped:
        assert not skipped


def test_they_are_left_out_only_on_the_code_they_passed_on(
    project: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("DBT_EXCLUDE_RESOURCE_TYPES", raising=False)
    monkeypatch.delenv("TESSERA_UNIT_TESTS", raising=False)
    settings = _settings(project, tmp_path)
    code = code_fingerprint(settings)
    # Nothing published yet, or published by a build whose unit tests did not all pass or run.
    for published in (None, Audit(True, [], 1, 0, 1, 0.0)):
        settings.last_audit_path.unlink(missing_ok=True)
        if published is not None:
            published.write(settings.last_audit_path)
        with unit_tests_when_code_changed(settings, code) as skipped:
            assert not skipped and "DBT_EXCLUDE_RESOURCE_TYPES" not in os.environ
    _publish_audit(settings, code)
    with unit_tests_when_code_changed(settings, code) as skipped:
        assert skipped and os.environ["DBT_EXCLUDE_RESOURCE_TYPES"] == "unit_test"
    assert "DBT_EXCLUDE_RESOURCE_TYPES" not in os.environ
    monkeypatch.setenv("TESSERA_UNIT_TESTS", "always")
    with unit_tests_when_code_changed(settings, code) as skipped:
        assert not skipped
    monkeypatch.setenv("TESSERA_UNIT_TESTS", "sometimes")
    with (
        pytest.raises(ValueError, match="TESSERA_UNIT_TESTS must be 'changed'"),
        unit_tests_when_code_changed(settings, code),
    ):
        pass
    monkeypatch.delenv("TESSERA_UNIT_TESTS")
    # A caller's own exclusion is left as it is, and not taken away afterwards.
    monkeypatch.setenv("DBT_EXCLUDE_RESOURCE_TYPES", "unit_test snapshot")
    with unit_tests_when_code_changed(settings, code) as skipped:
        assert not skipped
    assert os.environ["DBT_EXCLUDE_RESOURCE_TYPES"] == "unit_test snapshot"


def test_a_build_records_the_code_only_when_every_unit_test_passed_in_it() -> None:
    ids = ["unit_test.tessera.customers.a", "unit_test.tessera.orders.b"]
    both = [{"unique_id": i, "status": "pass"} for i in ids] + [
        {"unique_id": "model.tessera.x", "status": "success"}
    ]
    assert verified_code("abc", False, ids, both) == "abc"
    assert verified_code("abc", False, ids, both[1:]) is None  # a narrowed build, or left out by a caller
    assert verified_code("abc", False, ids, [{**both[0], "status": "fail"}, both[1]]) is None
    assert verified_code("abc", True, ids, []) == "abc"  # left out because they passed on this code
    # A failing build records nothing (and is not published).
    failed = Audit.from_run_results({"results": [{"unique_id": "test.tessera.t", "status": "fail"}]}, "abc")
    assert failed.unit_tests_code is None


def test_an_audit_from_before_reads(tmp_path: Path) -> None:
    path = tmp_path / "last_audit.duckdb.json"
    path.write_text(
        '{"passed": true, "failures": [], "tests_passed": 3, "tests_warned": 0, "models_built": 2, "finished_at": 1.0}'
    )
    audit = Audit.read(path)
    assert audit is not None and audit.unit_tests_code is None


def test_the_published_world_recorded_its_code_so_the_next_build_leaves_them_out(
    published, settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The session's world was built by the Dagster job, running every unit test: its audit records the
    code, so a build of the same code leaves them out (dbt's DBT_EXCLUDE_RESOURCE_TYPES, which the test
    worlds of tests/worlds.py rely on too) and still runs every data test."""
    monkeypatch.delenv("DBT_EXCLUDE_RESOURCE_TYPES", raising=False)
    monkeypatch.delenv("TESSERA_UNIT_TESTS", raising=False)
    last = Audit.read(settings.last_audit_path)
    assert last is not None and last.unit_tests_code == code_fingerprint(settings)
    assert last.tests_passed + last.tests_warned > _unit_tests_in(settings) > 0
    with unit_tests_when_code_changed(settings, code_fingerprint(settings)) as skipped:
        assert skipped and os.environ["DBT_EXCLUDE_RESOURCE_TYPES"] == "unit_test"


def _unit_tests_in(settings: Settings) -> int:
    from orchestration.build.project import dbt_project

    return len(manifest_unit_tests(dbt_project(settings.target).manifest_path))
