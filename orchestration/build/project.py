"""The dbt project as Dagster sees it: one DbtProject per target, made on first use, never at import."""

from __future__ import annotations

import contextlib
import functools
import importlib.metadata
import json
import os
import shutil
import sys
import uuid
from collections.abc import Iterator, Sequence
from pathlib import Path

from dagster_dbt import DagsterDbtProjectPreparer, DbtCliResource, DbtProject
from dagster_dbt.dbt_project import using_dagster_dev
from packaging.version import Version

from orchestration.audiences.definitions import dbt_vars_args
from orchestration.settings import PROJECT_DIR, Settings, dbt_executable
from orchestration.warehouse.files import written_aside


def use_dbt_environment(settings: Settings) -> None:
    """dbt reads these through profiles.yml; fixing them to absolute paths keeps the rendered profile
    stable wherever dbt is started from (a changed profile forces a full re-parse). Called by whoever
    is about to run dbt through Dagster (the CLI, the definitions loader), not at import."""
    os.environ.setdefault("TESSERA_TARGET", settings.target)
    os.environ["TESSERA_BUILD_DB"] = str(settings.build_db)
    os.environ.setdefault("DBT_SEND_ANONYMOUS_USAGE_STATS", "false")
    # dagster-dbt looks for `dbt` on PATH: use the one installed beside this interpreter (.venv/bin).
    here = str(Path(sys.executable).parent)
    if here not in os.environ.get("PATH", "").split(os.pathsep):
        os.environ["PATH"] = here + os.pathsep + os.environ.get("PATH", "")


class TesseraDbtCli(DbtCliResource):
    """dagster-dbt's dbt resource, without the two dbt start-ups it makes before each invocation: it is
    told the version of dbt instead of asking `dbt --version`, and opens no dbt adapter of its own.

    dagster-dbt starts `dbt --version` (a whole dbt start-up, about 2 s) once per resource instance:
    in every run, and in every parse. The dbt it starts is the dbt-core installed beside this
    interpreter (pinned in pyproject.toml; use_dbt_environment puts it first on PATH), whose version
    its package metadata states."""

    @functools.cached_property
    def _cli_version(self) -> Version:
        return Version(importlib.metadata.version("dbt-core"))

    def _initialize_dbt_core_adapter(self, args: Sequence[str]) -> None:  # type: ignore[override]
        """No dbt adapter in the Dagster process. dagster-dbt starts one (loading the profile, the project
        and dbt's macros: about 2.4 s) for every invocation, only to read row counts and column metadata
        (`fetch_row_counts`, `fetch_column_metadata`), which Tessera does not ask for. dagster-dbt takes
        a missing adapter as "no such metadata"."""
        return None


# What dbt logs (at info level, to dbt.log) when it cannot reuse the target folder's partial parse.
_FULL_PARSE = "Unable to do partial parsing because "


def full_parse_reasons(log_dir: Path) -> list[str]:
    """Why the dbt invocations that logged to `log_dir` parsed the whole project rather than only what
    changed since the partial parse they started from, in dbt's words ("profile has changed", "saved
    manifest not found"); empty when they reused it (or wrote no log). dbt.log may be in text or JSON
    lines (dagster-dbt's), and rotated (dbt.log.1, …: the parse is logged at the start)."""
    reasons = []
    for path in sorted(log_dir.glob("dbt.log*")):
        try:
            text = path.read_text(errors="replace")
        except OSError:
            continue
        for line in text.splitlines():
            if _FULL_PARSE not in line:
                continue
            if line.startswith("{"):
                with contextlib.suppress(ValueError, AttributeError, TypeError):
                    line = str(json.loads(line)["info"]["msg"])
            reasons.append(line.split(_FULL_PARSE, 1)[1].strip())
    return reasons


@contextlib.contextmanager
def target_folder_keeping_parse(project: DbtProject, profile_target: str) -> Iterator[Path]:
    """A new target folder for one dbt invocation under Dagster with another profiles.yml target than the
    project's (the audience sandbox's), starting from that target's partial parse, kept beside the
    project's own; the invocation's parse is kept there after it, and the folder removed.

    dagster-dbt starts every invocation from the project's partial parse, made for the project's target:
    for another target dbt finds the target and the profile changed, and parses the whole project again
    (63-78 s for the sandbox's invocation on Postgres, in every build). The copy is dbt's own cache: dbt
    checks it (files, vars, profile, environment) and parses again what no longer fits."""
    target = Path(project.project_dir) / project.target_path
    kept = target / f"partial_parse.{profile_target}.msgpack"
    folder = target / f"{profile_target}-{uuid.uuid4().hex[:12]}"
    folder.mkdir(parents=True)
    if kept.exists():
        shutil.copyfile(kept, folder / "partial_parse.msgpack")
    try:
        yield folder
        parsed = folder / "partial_parse.msgpack"
        if parsed.exists():
            with contextlib.suppress(OSError), written_aside(kept) as aside:
                shutil.copyfile(parsed, aside)
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def dbt_cli(project: DbtProject) -> TesseraDbtCli:
    """The resource for `project`: its folders, profile and target, as DbtCliResource reads them from
    a DbtProject (mypy sees only the subclass's fields, which take the folder as text)."""
    return TesseraDbtCli(project_dir=project, dbt_executable=dbt_executable())  # type: ignore[arg-type]


class _Preparer(DagsterDbtProjectPreparer):
    """dagster-dbt's preparer (its lock against a concurrent parse, its seed handling), parsing
    through TesseraDbtCli."""

    def _prepare_manifest(self, project: DbtProject) -> None:
        dbt_cli(project).cli(self._prepare_project_cli_args, target_path=project.target_path).wait()
        self._invalidate_seeds_in_partial_parse(project)


def dbt_project(target: str) -> DbtProject:
    """The project for `target`, shared by assets, resources and the CLI (one per target and target
    folder in a process). Its target folder is dbt's own DBT_TARGET_PATH where set (as the erase proof
    and the build's partial-parse copy also read it, when they run), else target/."""
    return _dbt_project(target, os.environ.get("DBT_TARGET_PATH", "target"))


@functools.cache
def _dbt_project(target: str, target_path: str) -> DbtProject:
    return DbtProject(
        project_dir=PROJECT_DIR, profiles_dir=PROJECT_DIR, target=target, target_path=target_path
    )


def prepare_manifest(settings: Settings) -> Path:
    """Parse the project (writing target/manifest.json) and return the manifest's path."""
    use_dbt_environment(settings)
    project = dbt_project(settings.target)
    # The parse needs the analyst configuration (audiences, traits) as vars: it decides the ref()s.
    _Preparer(dbt_vars_args(["parse", "--quiet"])).prepare(project)
    return project.manifest_path


def prepare_manifest_if_dev(settings: Settings) -> None:
    """Under `dagster dev` (`tessera dev`), re-parse on every code load so the UI shows the models as
    they are now. DbtProject.prepare_if_dev would parse without the analyst vars, which fails: the
    audiences' ref()s come from them. Elsewhere `tessera` (or the test fixtures) parse first."""
    if using_dagster_dev():
        prepare_manifest(settings)
