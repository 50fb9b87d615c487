"""The dbt project keeps to the house style (docs in /STYLE): checked, not hoped for."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
BUDGET_TOOL = ROOT / "tools" / "sql_lint_budget.py"


def _report(tmp_path: Path, files: dict[str, int], codes: list[str]) -> Path:
    """A sqlfluff JSON report over `files` (name -> line count) with `codes` on the first file."""
    entries = []
    for i, (name, lines) in enumerate(files.items()):
        path = tmp_path / name
        path.write_text("select 1\n" * lines)
        violations = [{"code": code, "start_line_no": 1} for code in codes] if i == 0 else []
        entries.append({"filepath": str(path), "violations": violations, "statistics": {"segments": 10}})
    report = tmp_path / "report.json"
    report.write_text(json.dumps(entries))
    return report


def _budget(report: Path, tmp_path: Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, str(BUDGET_TOOL), str(report), "--root", str(tmp_path)],
        capture_output=True,
        text=True,
        check=False,
    )


def test_sql_lint_budget_passes_at_the_budget(tmp_path):
    # 3 violations in 100 lines: within the budget.
    result = _budget(_report(tmp_path, {"a.sql": 60, "b.sql": 40}, ["LT05", "AL03", "LT02"]), tmp_path)
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout[: result.stdout.rindex("}") + 1])["per_100_lines"] == 3.0


def test_sql_lint_budget_fails_above_the_budget(tmp_path):
    result = _budget(_report(tmp_path, {"a.sql": 60, "b.sql": 40}, ["LT05"] * 4), tmp_path)
    assert result.returncode == 1
    assert "4.0 violations per 100 SQL lines" in result.stderr


def test_sql_lint_budget_fails_on_unparsable_sql(tmp_path):
    result = _budget(_report(tmp_path, {"a.sql": 1000}, ["PRS"]), tmp_path)
    assert result.returncode == 1
    assert "parse errors" in result.stderr


def test_sql_lint_budget_leaves_out_disabled_models(tmp_path):
    """A model disabled for the target renders to nothing: its lines do not dilute the figure."""
    report = _report(tmp_path, {"a.sql": 100, "disabled.sql": 900}, ["LT05"] * 4)
    entries = json.loads(report.read_text())
    entries[1]["statistics"] = {"segments": 0}
    report.write_text(json.dumps(entries))
    result = _budget(report, tmp_path)
    assert result.returncode == 1, result.stdout


def test_sql_lint_budget_fails_when_nothing_was_linted(tmp_path):
    report = tmp_path / "report.json"
    report.write_text("[]")
    assert _budget(report, tmp_path).returncode == 1


MODEL_FILES = sorted(p for p in (ROOT / "models").rglob("*.sql"))


@pytest.mark.parametrize("path", MODEL_FILES, ids=lambda p: str(p.relative_to(ROOT / "models")))
def test_every_model_ends_with_select_star_from_final(path):
    if path.is_relative_to(ROOT / "models" / "audiences"):
        pytest.skip(
            "models/audiences/ is restyled with the audience work (rule audiences are one macro call)"
        )
    text = re.sub(r"\{#.*?#\}", "", path.read_text(), flags=re.S).strip()
    assert text.endswith("select * from final"), f"{path.name} must end in `select * from final`"


# Macros owned by the privacy and audience work keep their own layout for now (issue #13 note).
MACRO_DIRS_ELSEWHERE = ("privacy", "audiences")
MACRO_FILES = sorted(
    p
    for p in (ROOT / "macros").rglob("*.sql")
    if p.relative_to(ROOT / "macros").parts[0] not in MACRO_DIRS_ELSEWHERE
)
DEFINED = re.compile(r"\{%-?\s*(macro|test)\s+([a-z_0-9]+)\s*\(")


@pytest.mark.parametrize("path", MACRO_FILES, ids=lambda p: str(p.relative_to(ROOT / "macros")))
def test_macro_file_is_named_after_its_macro(path):
    """`clean_text.sql` defines `clean_text`: a reader finds a macro by its name."""
    names = [name for _, name in DEFINED.findall(path.read_text())]
    assert path.stem in names, f"{path.name} defines {names}, none named {path.stem}"


def _macros_yml() -> dict[str, dict]:
    import yaml

    data = yaml.safe_load((ROOT / "macros" / "_macros.yml").read_text())
    return {entry["name"]: entry for entry in data["macros"]}


def test_every_macro_is_documented_in_macros_yml():
    documented = _macros_yml()
    missing, undescribed, arguments = [], [], []
    for path in sorted((ROOT / "macros").rglob("*.sql")):
        text = path.read_text()
        for match in re.finditer(r"\{%-?\s*(macro|test)\s+([a-z_0-9]+)\s*\((.*?)\)\s*-?%\}", text, re.S):
            kind, name, args = match.groups()
            key = f"test_{name}" if kind == "test" else name
            entry = documented.get(key)
            if entry is None:
                missing.append(f"{path.relative_to(ROOT)}: {key}")
                continue
            if not (entry.get("description") or "").strip():
                undescribed.append(key)
            declared = re.findall(
                r"(?:^|,)\s*([a-z_0-9]+)\s*(?==|,|$)", re.sub(r"\[.*?\]|\(.*?\)", "", args, flags=re.S)
            )
            listed = [a["name"] for a in entry.get("arguments", [])]
            if kind == "test":
                declared = [a for a in declared if a not in ("model", "column_name")]
                listed = [a for a in listed if a not in ("model", "column_name")]
            if declared != listed:
                arguments.append(f"{key}: {declared} != {listed}")
    assert not missing, f"not in macros/_macros.yml: {missing}"
    assert not undescribed, f"no description: {undescribed}"
    assert not arguments, f"arguments differ from the macro's: {arguments}"


def test_macros_yml_names_only_macros_that_exist():
    defined = set()
    for path in (ROOT / "macros").rglob("*.sql"):
        for kind, name in DEFINED.findall(path.read_text()):
            defined.add(f"test_{name}" if kind == "test" else name)
    assert set(_macros_yml()) - defined == set()


# Models with no primary-key test, each with the reason. STYLE: every model has one (`unique` +
# `not_null` on the key, or `unique_combination_of_columns`); a model that keeps several rows per key
# on purpose states its real grain with such a test instead (base_events__*: message id + delivery).
# A base_<source>__<table> model keeps every raw row, so that a row with a missing or repeated key is
# quarantined with its reason rather than dropped: it has no key of its own. Its key is tested on
# stg_<source>__<table>, which is exactly its rows that pass (rows_passing_quarantine); the check
# counts that test for it. A second, gating key test on the base model would fail first and skip the
# staging model, so a duplicate would be reported against the wrong model.
PK_TEST_EXEMPT = {
    # One row per raw row that broke a rule, from every source: a repeated delivery repeats its
    # message id and a missing key is null, so no column set is a key. Its count is reconciled with
    # the raw tables by tests/test_pipeline.py::test_every_raw_row_is_staged_or_quarantined.
    "quarantined_rows": "one row per quarantined raw row; no key of its own",
}


def _models_without_pk_test(manifest: dict) -> set[str]:
    """Models of this project with no primary-key test: no column with both `unique` and `not_null`,
    and no `unique_combination_of_columns` (a test's `where:` config may narrow either)."""
    tests: dict[str, list[tuple[str, str | None]]] = {}
    for node in manifest["nodes"].values():
        if node["resource_type"] == "test" and node.get("test_metadata"):
            model = node.get("attached_node") or next(iter(node["depends_on"]["nodes"]), None)
            tests.setdefault(model, []).append((node["test_metadata"]["name"], node.get("column_name")))
    missing = set()
    for unique_id, node in manifest["nodes"].items():
        if node["resource_type"] != "model" or node["package_name"] != "tessera":
            continue
        if not _has_pk_test(tests.get(unique_id, [])):
            missing.add(node["name"])
    for name in sorted(missing):
        staged = f"stg_{name.removeprefix('base_')}"
        if (
            name.startswith("base_")
            and f"model.tessera.{staged}" in manifest["nodes"]
            and staged not in missing
        ):
            missing.discard(name)
    return missing


def _has_pk_test(found: list[tuple[str, str | None]]) -> bool:
    unique = {column for name, column in found if name == "unique"}
    not_null = {column for name, column in found if name == "not_null"}
    return bool(unique & not_null) or any(name == "unique_combination_of_columns" for name, _ in found)


def test_every_model_has_a_primary_key_test(dbt_manifest):
    missing = _models_without_pk_test(json.loads(Path(dbt_manifest).read_text()))
    unexplained = sorted(missing - set(PK_TEST_EXEMPT))
    assert not unexplained, (
        f"models with no primary-key test (unique + not_null, or unique_combination_of_columns): {unexplained}; "
        "add one in the folder's YAML, or an exemption with its reason to PK_TEST_EXEMPT"
    )


def test_primary_key_exemptions_are_still_needed(dbt_manifest):
    """An exemption is dropped once its model has a key test (or is gone), so the list stays true."""
    missing = _models_without_pk_test(json.loads(Path(dbt_manifest).read_text()))
    assert sorted(set(PK_TEST_EXEMPT) - missing) == []


def test_primary_key_check_sees_a_model_without_one():
    """The check itself: a model with only `unique` has no key test; unique + not_null or a
    unique combination is one, and a base_ model counts its stg_ model's."""

    def test(model: str, name: str, column: str | None = None) -> dict:
        return {
            "resource_type": "test",
            "test_metadata": {"name": name},
            "column_name": column,
            "attached_node": model,
            "depends_on": {"nodes": [model]},
        }

    names = ("only_unique", "keyed", "composite", "base_x__keyed", "stg_x__keyed", "base_y__t", "stg_y__t")
    models = {
        f"model.tessera.{m}": {"resource_type": "model", "package_name": "tessera", "name": m} for m in names
    }
    checks = [
        test("model.tessera.only_unique", "unique", "a"),
        test("model.tessera.only_unique", "not_null", "b"),
        test("model.tessera.keyed", "unique", "a"),
        test("model.tessera.keyed", "not_null", "a"),
        test("model.tessera.composite", "unique_combination_of_columns"),
        test("model.tessera.stg_x__keyed", "unique_combination_of_columns"),
    ]
    manifest = {"nodes": {**models, **{f"test.tessera.t{i}": t for i, t in enumerate(checks)}}}
    # base_x__keyed is covered by its staging model's key test; base_y__t's staging model has none.
    assert _models_without_pk_test(manifest) == {"only_unique", "base_y__t", "stg_y__t"}
