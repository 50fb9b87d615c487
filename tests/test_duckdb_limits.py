"""Out of core on DuckDB (#16): the memory limit and spill folder come from the settings, and reach both
DuckDB databases a build uses: the build file's (dbt, through profiles.yml) and the matching step's."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest

from orchestration.build.pipeline import _dbt_command, settings_environment
from orchestration.identity import matching
from orchestration.settings import Settings
from orchestration.warehouse.duckdb import DuckDBWarehouse


def _settings(tmp_path: Path, **env: str) -> Settings:
    return Settings.from_env({"TESSERA_BUILD_DB": str(tmp_path / "build" / "tessera.duckdb"), **env})


def test_defaults_are_duckdbs_own_and_spill_beside_the_build_file(tmp_path: Path) -> None:
    settings = _settings(tmp_path)
    assert settings.duckdb_memory_limit == "80%"
    assert settings.duckdb_spill_dir == tmp_path / "build" / "tessera.duckdb.tmp"
    chosen = _settings(
        tmp_path, TESSERA_DUCKDB_MEMORY_LIMIT="6GB", TESSERA_DUCKDB_TEMP_DIR=str(tmp_path / "spill")
    )
    assert (chosen.duckdb_memory_limit, chosen.duckdb_spill_dir) == ("6GB", tmp_path / "spill")


def test_the_build_connection_has_the_settings_limits(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A target folder of the test's own: the project's manifest, which other tests read, stays put.
    monkeypatch.setenv("DBT_TARGET_PATH", str(tmp_path / "target"))
    settings = _settings(
        tmp_path, TESSERA_DUCKDB_MEMORY_LIMIT="1GB", TESSERA_DUCKDB_TEMP_DIR=str(tmp_path / "spill")
    )
    query = (
        "select current_setting('memory_limit') as memory_limit,"
        " current_setting('temp_directory') as temp_directory"
    )
    with settings_environment(settings):
        shown = subprocess.run(
            _dbt_command(settings, ["show", "--inline", query, "--output", "json", "--quiet"]),
            capture_output=True,
            text=True,
            env=os.environ.copy(),
            check=False,
        )
    assert shown.returncode == 0, shown.stdout[-2000:] + shown.stderr[-2000:]
    row = json.loads(shown.stdout[shown.stdout.index("{") :])["show"][0]
    assert row == {"memory_limit": "953.6 MiB", "temp_directory": str(tmp_path / "spill")}


def test_the_matching_database_has_them_too_in_a_spill_folder_of_its_own(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TESSERA_BUILD_DB", str(tmp_path / "build" / "tessera.duckdb"))
    monkeypatch.setenv("TESSERA_DUCKDB_MEMORY_LIMIT", "512MB")
    monkeypatch.delenv("TESSERA_DUCKDB_TEMP_DIR", raising=False)
    con = matching._connection()
    try:
        limit, folder = con.execute(
            "select current_setting('memory_limit'), current_setting('temp_directory')"
        ).fetchone()
    finally:
        con.close()
    assert limit == "488.2 MiB"
    assert folder == str(tmp_path / "build" / "tessera.duckdb.tmp" / "matching")


def test_the_matching_database_spills_before_the_build_file_has(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A sort larger than the limit spills. The build's spill folder does not exist yet (the build file's
    database has not spilled), and DuckDB makes the last folder of the path, never its parents."""
    monkeypatch.setenv("TESSERA_BUILD_DB", str(tmp_path / "build" / "tessera.duckdb"))
    monkeypatch.setenv("TESSERA_DUCKDB_MEMORY_LIMIT", "64MB")
    monkeypatch.setenv("TESSERA_DUCKDB_TEMP_DIR", str(tmp_path / "spill" / "nested"))
    con = matching._connection()
    try:
        counted = con.execute(
            "select count(*), count(distinct s)"
            " from (select md5(range::varchar) as s from range(1000000) order by s)"
        ).fetchone()
        spilled = (tmp_path / "spill" / "nested" / "matching").is_dir()  # DuckDB removes it on close
    finally:
        con.close()
    assert counted == (1_000_000, 1_000_000)
    assert spilled


def test_a_build_makes_the_parents_of_a_spill_folder_set_anywhere(tmp_path: Path) -> None:
    settings = _settings(tmp_path, TESSERA_DUCKDB_TEMP_DIR=str(tmp_path / "scratch" / "tessera" / "spill"))
    DuckDBWarehouse(settings).prepare_build()
    assert (tmp_path / "scratch" / "tessera").is_dir()
