"""Every folder the project writes files into, for the erase proof to scan.

- the data folder (raw landing files, the generator's truth, file exports);
- the warehouse folder (the published file, the sync state and history, the masked file, access exports, the
  published ledger) and the build folder (the build copy, dbt's target folder of subprocess runs, the
  audience check's compiled SQL);
- Dagster's storage, DAGSTER_HOME: run storage, event logs, compute logs, schedules (the CLI's default is
  <repo>/.dagster);
- dbt's own target/ and logs/ folders in the project (run_results, compiled SQL, dbt.log; dagster-dbt's
  per-run target folders), or where DBT_TARGET_PATH and DBT_LOG_PATH point.

dbt's artefacts (and Dagster's record of dbt runs) also hold the project's own code: compiled unit tests and
data tests, the manifest, dbt.log's SQL. A term that the project's dbt code holds (a fixture's phone number in a
unit test, say) is found there on every build, whoever it belongs to; in those files the proof counts it apart,
as a hit from the project's code, and names the code files that hold it (project_code_files, tool_artefact).

The privacy ledger itself is not scanned: it holds the identifier of a request until that request is carried
out (then the value is dropped and the file rewritten), and what it proves is kept there as salted hashes.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import yaml  # type: ignore[import-untyped]

from orchestration.privacy.ledger import ledger_path
from orchestration.settings import Settings


def dagster_home(settings: Settings) -> Path:
    """Where Dagster keeps its storage: DAGSTER_HOME, else the CLI's default (<repo>/.dagster)."""
    value = os.environ.get("DAGSTER_HOME")
    return Path(value) if value else settings.project_dir / ".dagster"


def _dbt_folder(settings: Settings, variable: str, default: str) -> Path:
    value = os.environ.get(variable)
    if not value:
        return settings.project_dir / default
    path = Path(value)
    return path if path.is_absolute() else settings.project_dir / path


def dbt_manifest_path(settings: Settings) -> Path:
    """The manifest dbt's parse writes (target/manifest.json, or under DBT_TARGET_PATH)."""
    return _dbt_folder(settings, "DBT_TARGET_PATH", "target") / "manifest.json"


def written_folders(settings: Settings) -> list[tuple[str, Path]]:
    """(label, folder) of every folder the project writes, as the proof names them."""
    return [
        ("data", settings.data_dir),
        ("warehouse", settings.published_db.parent),
        ("build", settings.build_db.parent),
        ("dagster", dagster_home(settings)),
        ("dbt_target", _dbt_folder(settings, "DBT_TARGET_PATH", "target")),
        ("dbt_logs", _dbt_folder(settings, "DBT_LOG_PATH", "logs")),
    ]


def not_scanned(settings: Settings) -> set[Path]:
    """The ledger file and its write-ahead log (see the module docstring)."""
    ledger = ledger_path(settings)
    return {ledger.resolve(), ledger.with_name(ledger.name + ".wal").resolve()}


def written_files(settings: Settings) -> Iterator[tuple[str, Path]]:
    """(folder label, file) of every file under the written folders, each once, the ledger left out."""
    skip = not_scanned(settings)
    seen: set[Path] = set()
    for label, folder in written_folders(settings):
        if not folder.is_dir():
            continue
        for path in sorted(folder.rglob("*")):
            resolved = path.resolve()
            if resolved in seen or resolved in skip or not path.is_file():
                continue
            seen.add(resolved)
            yield label, path


# dbt_project.yml's keys for the folders of the project's code, with dbt's defaults.
CODE_PATHS = {
    "model-paths": ["models"],
    "macro-paths": ["macros"],
    "seed-paths": ["seeds"],
    "test-paths": ["tests"],
    "snapshot-paths": ["snapshots"],
    "analysis-paths": ["analyses"],
}
TOOL_PLACES = ("dagster", "dbt_target", "dbt_logs")


def project_code_files(settings: Settings) -> list[Path]:
    """The dbt project's own files: dbt_project.yml and every file under its model, macro, seed, test,
    snapshot and analysis paths."""
    project_file = settings.project_dir / "dbt_project.yml"
    if not project_file.exists():
        return []
    document = yaml.safe_load(project_file.read_text()) or {}
    files = [project_file]
    for key, default in CODE_PATHS.items():
        for folder in document.get(key) or default:
            root = settings.project_dir / folder
            if root.is_dir():
                files.extend(p for p in sorted(root.rglob("*")) if p.is_file())
    return files


def tool_artefact(label: str, path: Path) -> bool:
    """A file that Dagster or dbt wrote about a run: anything in Dagster's storage or dbt's target and log
    folders, and the target folders dbt runs get beside the build (dbt-target-*, audience-check)."""
    return label in TOOL_PLACES or any(
        part.startswith("dbt-target") or part == "audience-check" for part in path.parts
    )
