"""Config errors are checked before a run starts, each shown as one line without a traceback."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml  # type: ignore[import-untyped]
from click.testing import CliRunner

from orchestration.build.config_check import check_project_config
from orchestration.retention.config import RETENTION_FILE
from orchestration.settings import PROJECT_DIR, Settings

GOOD_SYNC = {
    "name": "export",
    "source": {"model": "sync_file__customers", "primary_key": "customer_id"},
    "destination": {"type": "files", "directory": "exports/x", "format": "csv"},
    "mode": "mirror",
    "mapping": {"email": "email"},
    "schedule": "0 * * * *",
    "consent_purpose": "email_marketing",
}
BAD_PERSON_SOURCES = """
person_sources:
  - name: crm
    file: visitors.csv
    record_id: id
    fields: {email: mail}
"""


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Settings:
    """Settings with a valid sync file and no person sources; each test breaks one thing."""
    monkeypatch.setenv("TESSERA_SYNCS_FILE", str(tmp_path / "syncs.yml"))
    monkeypatch.setenv("TESSERA_PERSON_SOURCES", str(tmp_path / "person_sources.yml"))
    monkeypatch.setenv("TESSERA_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("TESSERA_WAREHOUSE", str(tmp_path / "warehouse" / "tessera.duckdb"))
    monkeypatch.setenv("TESSERA_BUILD_DB", str(tmp_path / "warehouse" / "build" / "tessera.duckdb"))
    (tmp_path / "syncs.yml").write_text(yaml.safe_dump({"syncs": [GOOD_SYNC]}))
    return Settings.from_env()


def _lines(problems) -> list[str]:  # type: ignore[no-untyped-def]
    return [problem.line() for problem in problems]


def test_the_project_as_shipped_has_no_problems(project: Settings) -> None:
    assert check_project_config(project) == []


def test_sync_with_an_unknown_key(project: Settings, tmp_path: Path) -> None:
    (tmp_path / "syncs.yml").write_text(yaml.safe_dump({"syncs": [{**GOOD_SYNC, "token": "secret-xyz"}]}))
    [line] = _lines(check_project_config(project))
    assert line.startswith("syncs: ") and "syncs.yml: syncs[0].token: unknown key" in line
    assert "secret-xyz" not in line


def test_sync_reading_a_model_the_project_lacks(project: Settings, tmp_path: Path) -> None:
    sync = {**GOOD_SYNC, "source": {"model": "sync_file__customrs", "primary_key": "customer_id"}}
    (tmp_path / "syncs.yml").write_text(yaml.safe_dump({"syncs": [sync]}))
    [line] = _lines(check_project_config(project))
    assert "syncs[0].source.model: no model named 'sync_file__customrs'" in line


def test_sync_file_missing_or_not_yaml(project: Settings, tmp_path: Path) -> None:
    (tmp_path / "syncs.yml").unlink()
    [line] = _lines(check_project_config(project))
    assert line.startswith("syncs: ") and "cannot read the file" in line
    (tmp_path / "syncs.yml").write_text("syncs: [\n  - name: {")
    [line] = _lines(check_project_config(project))
    assert "not valid YAML at line" in line


def test_retention_policy_with_a_bad_value(project: Settings, tmp_path: Path) -> None:
    policies = yaml.safe_load(RETENTION_FILE.read_text())
    policies["policies"][0]["keep_days"] = "thirteen months"
    (tmp_path / "retention.yml").write_text(yaml.safe_dump(policies))
    [line] = _lines(check_project_config(project, retention_path=tmp_path / "retention.yml"))
    assert line.startswith("retention: ") and "policies.0.keep_days" in line and "\n" not in line


def test_audience_referring_to_an_unknown_audience(project: Settings, tmp_path: Path) -> None:
    copy = tmp_path / "project"
    shutil.copytree(PROJECT_DIR / "models", copy / "models")
    shutil.copytree(PROJECT_DIR / "audiences", copy / "audiences")
    audience = copy / "audiences" / "browsing_valuable_customers.yml"
    text = audience.read_text()
    assert "in_audience: cart_abandoners_7d}" in text
    audience.write_text(text.replace("in_audience: cart_abandoners_7d}", "in_audience: nobody}"))
    [line] = _lines(check_project_config(project, project_dir=copy))
    assert line.startswith("audiences: ") and "nobody" in line
    assert "browsing_valuable_customers.yml" in line


def test_audience_file_that_is_not_yaml_or_has_an_unknown_key(project: Settings, tmp_path: Path) -> None:
    copy = tmp_path / "project"
    shutil.copytree(PROJECT_DIR / "models", copy / "models")
    shutil.copytree(PROJECT_DIR / "audiences", copy / "audiences")
    (copy / "audiences" / "lapsed_high_value.yml").write_text("name: lapsed_high_value\nholdout_percent: [\n")
    [line] = _lines(check_project_config(project, project_dir=copy))
    assert line.startswith("audiences: ") and "lapsed_high_value.yml: not valid YAML" in line
    (copy / "audiences" / "lapsed_high_value.yml").write_text("name: lapsed_high_value\nholdout: 10\n")
    [line] = _lines(check_project_config(project, project_dir=copy))
    assert (
        "lapsed_high_value.yml: audience lapsed_high_value: holdout: Extra inputs are not permitted" in line
    )


def test_trait_without_a_contract_type_or_kind(project: Settings, tmp_path: Path) -> None:
    """A registry trait is a customer_traits column: without a data_type (its contract) it is refused."""
    copy = tmp_path / "project"
    shutil.copytree(PROJECT_DIR / "models", copy / "models")
    shutil.copytree(PROJECT_DIR / "audiences", copy / "audiences")
    traits = copy / "models" / "marts" / "traits" / "_traits__models.yml"
    document = yaml.safe_load(traits.read_text())
    columns = document["models"][0]["columns"]
    columns.append(
        {
            "name": "returns_count",
            "description": "Refunded orders.",
            "config": {"meta": {"trait": {"source": "orders", "kind": "count"}}},
        }
    )
    traits.write_text(yaml.safe_dump(document, sort_keys=False))
    [line] = _lines(check_project_config(project, project_dir=copy))
    assert line.startswith("traits: ") and "trait returns_count: data_type" in line
    columns[-1]["data_type"] = "bigint"
    columns[-1]["config"]["meta"]["trait"]["kind"] = "tally"
    traits.write_text(yaml.safe_dump(document, sort_keys=False))
    [line] = _lines(check_project_config(project, project_dir=copy))
    assert "trait returns_count: kind: Input should be" in line
    columns[-1]["config"]["meta"]["trait"]["kind"] = "count"
    traits.write_text(yaml.safe_dump(document, sort_keys=False))
    assert check_project_config(project, project_dir=copy) == []


def test_dbt_project_vars_hold_no_analyst_configuration() -> None:
    """Audiences live in audiences/, traits in the customer_traits YAML; dbt_project.yml keeps project settings."""
    from orchestration.audiences.definitions import dbt_vars

    project_vars = yaml.safe_load((PROJECT_DIR / "dbt_project.yml").read_text())["vars"]
    analyst = dbt_vars()
    assert {"audiences", "traits", "holdout_global_percent", "audience_priority_lists"} <= set(analyst)
    assert not set(project_vars) & set(analyst), set(project_vars) & set(analyst)
    for name, value in project_vars.items():
        text = yaml.safe_dump(value)
        assert "rule" not in text and "holdout" not in name and "trait" not in name, name


def test_person_source_with_a_built_in_name(project: Settings, tmp_path: Path) -> None:
    (tmp_path / "person_sources.yml").write_text(BAD_PERSON_SOURCES)
    [line] = _lines(check_project_config(project))
    assert line.startswith("person sources: ") and "built-in source name" in line


def test_every_problem_is_gathered_not_only_the_first(project: Settings, tmp_path: Path) -> None:
    (tmp_path / "syncs.yml").write_text(yaml.safe_dump({"syncs": [{**GOOD_SYNC, "mode": "sometimes"}]}))
    (tmp_path / "person_sources.yml").write_text(BAD_PERSON_SOURCES)
    (tmp_path / "retention.yml").write_text("policies: [{source: events}]")
    problems = check_project_config(project, retention_path=tmp_path / "retention.yml")
    assert [p.kind for p in problems] == ["syncs", "retention", "person sources"]


def test_tessera_check_prints_one_line_each_and_exits_2(project: Settings, tmp_path: Path) -> None:
    from orchestration.cli import main

    (tmp_path / "syncs.yml").write_text(yaml.safe_dump({"syncs": [{**GOOD_SYNC, "mode": "sometimes"}]}))
    (tmp_path / "person_sources.yml").write_text(BAD_PERSON_SOURCES)
    result = CliRunner().invoke(main, ["check"])
    assert result.exit_code == 2, result.output
    assert (
        "Traceback" not in result.output
        and result.exception is None
        or isinstance(result.exception, SystemExit)
    )
    lines = result.output.splitlines()
    assert sum(line.startswith("syncs: ") for line in lines) == 1
    assert sum(line.startswith("person sources: ") for line in lines) == 1
    (tmp_path / "person_sources.yml").unlink()
    (tmp_path / "syncs.yml").write_text(yaml.safe_dump({"syncs": [GOOD_SYNC]}))
    assert CliRunner().invoke(main, ["check"]).exit_code == 0


def test_tessera_run_stops_before_anything_runs(project: Settings, tmp_path: Path) -> None:
    (tmp_path / "syncs.yml").write_text(yaml.safe_dump({"syncs": [{**GOOD_SYNC, "schedule": "hourly"}]}))
    tessera = Path(sys.executable).with_name("tessera")
    run = subprocess.run(
        [str(tessera), "demo", "--customers", "50", "--seed", "3"],
        env={**os.environ, "DAGSTER_HOME": str(tmp_path / "dagster_home")},
        capture_output=True,
        text=True,
        timeout=300,
    )
    output = run.stdout + run.stderr
    assert run.returncode == 2, output
    assert "Traceback" not in output
    assert any(line.startswith("syncs: ") and "schedule" in line for line in output.splitlines()), output
    assert not project.build_db.exists() and not project.published_db.exists()


def test_a_wrong_source_preset_is_one_line(project: Settings, tmp_path: Path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setenv("TESSERA_SOURCE_PRESETS", str(tmp_path / "presets.yml"))
    (tmp_path / "presets.yml").write_text("sources:\n  events:\n    preset: segment\n")
    [line] = _lines(check_project_config(project))
    assert (
        line.startswith("source presets: ")
        and "presets.yml: sources.events.schema: the segment preset" in line
    )


def test_a_journey_condition_with_a_bad_timestamp_literal_is_one_line(
    project: Settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Found by `tessera check` before dbt renders the journey (it would fail there, or cast it its way)."""
    from orchestration.cli import main

    journeys = tmp_path / "journeys"
    journeys.mkdir()
    monkeypatch.setenv("TESSERA_JOURNEYS_DIR", str(journeys))
    journey_sync = {
        **GOOD_SYNC,
        "name": "recovery_email",
        "source": {"journey": "cart_recovery"},
        "mapping": {"email": "email"},
    }
    (tmp_path / "syncs.yml").write_text(yaml.safe_dump({"syncs": [journey_sync]}))
    journey = {
        "name": "cart_recovery",
        "entry": {"audience": "cart_abandoners_7d"},
        "steps": [
            {"condition": {"trait": "last_order_at", "op": "<", "value": "2026-01-32"}},
            {"sync": "recovery_email"},
        ],
    }
    (journeys / "cart_recovery.yml").write_text(yaml.safe_dump(journey))
    [line] = _lines(check_project_config(project))
    assert line.startswith("journeys: ") and "cart_recovery.yml: steps[0].condition: " in line, line
    assert "'2026-01-32' is not a timestamp literal" in line, line
    result = CliRunner().invoke(main, ["check"])
    assert result.exit_code == 2 and "'2026-01-32' is not a timestamp literal" in result.output
    journey["steps"][0]["condition"]["value"] = "2026-01-31"
    (journeys / "cart_recovery.yml").write_text(yaml.safe_dump(journey))
    assert check_project_config(project) == []
