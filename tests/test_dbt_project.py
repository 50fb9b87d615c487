"""build.project.dbt_project follows DBT_TARGET_PATH wherever it is read, as the erase proof does."""

from __future__ import annotations

from pathlib import Path

import pytest

from orchestration.build.project import dbt_project
from orchestration.settings import PROJECT_DIR


def test_the_project_follows_dbt_target_path_set_after_first_use(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("DBT_TARGET_PATH", raising=False)
    assert dbt_project("duckdb").manifest_path == PROJECT_DIR / "target" / "manifest.json"
    monkeypatch.setenv("DBT_TARGET_PATH", str(tmp_path / "elsewhere"))
    assert dbt_project("duckdb").manifest_path == tmp_path / "elsewhere" / "manifest.json"
    monkeypatch.delenv("DBT_TARGET_PATH")
    assert dbt_project("duckdb").manifest_path == PROJECT_DIR / "target" / "manifest.json"


def test_the_definitions_follow_dbt_target_path_set_after_first_use(monkeypatch: pytest.MonkeyPatch) -> None:
    """Dagster's definitions are kept per settings and target folder: a module that set a folder of its
    own (tests/conftest.py, private_dbt_target) never leaves definitions reading it to the next one."""
    from orchestration import definitions
    from orchestration.settings import Settings

    made: list[tuple[Settings, str]] = []
    monkeypatch.setattr(definitions, "_definitions_for", lambda settings, path: made.append((settings, path)))
    settings = Settings.from_env()
    monkeypatch.delenv("DBT_TARGET_PATH", raising=False)
    definitions.definitions_for(settings)
    monkeypatch.setenv("DBT_TARGET_PATH", "/elsewhere")
    definitions.definitions_for(settings)
    assert made == [(settings, "target"), (settings, "/elsewhere")]
