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
