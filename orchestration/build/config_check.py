"""Every configuration a run reads, checked before the run starts: one problem, one line, no traceback."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from orchestration.audiences.check import AudienceConfigError, AudienceSqlRefused, check_rules
from orchestration.audiences.definitions import TraitConfigError, load_traits, traits_file
from orchestration.journeys.config import JourneyConfigError
from orchestration.journeys.project import project_journeys
from orchestration.person_sources import PersonSourceConfigError, PersonSourceLoadError
from orchestration.person_sources.check import check_sources
from orchestration.retention.config import RETENTION_FILE, RetentionConfigError, load_policies
from orchestration.settings import PROJECT_DIR, Settings
from orchestration.source_presets import SourcePresetConfigError
from orchestration.source_presets.check import check_presets
from orchestration.sync.config import SyncConfig
from orchestration.sync.errors import SyncConfigError
from orchestration.sync.project import project_syncs, syncs_file


@dataclass(frozen=True)
class ConfigProblem:
    """One thing wrong in one configuration: what kind, and the file, key and reason in one line."""

    kind: str
    message: str

    def line(self) -> str:
        return f"{self.kind}: {' '.join(self.message.split())}"


def check_project_config(
    settings: Settings,
    *,
    project_dir: Path = PROJECT_DIR,
    syncs_path: Path | None = None,
    retention_path: Path = RETENTION_FILE,
) -> list[ConfigProblem]:
    """All the problems in the syncs, retention policies, audiences, traits, source presets and person sources; empty when a run
    may start. Reads files only (and, for person sources declared on a table and source presets read in place,
    the published catalog)."""
    problems: list[ConfigProblem] = []
    problems += _syncs(settings, syncs_path or syncs_file(), project_dir)
    problems += _journeys(settings, syncs_path or syncs_file(), project_dir)
    try:
        load_policies(retention_path)
    except RetentionConfigError as exc:
        problems.append(ConfigProblem("retention", f"{_shown(retention_path, project_dir.parent)}: {exc}"))
    try:
        check_rules(project_dir, settings.target)
    except (AudienceConfigError, AudienceSqlRefused) as exc:
        problems.append(ConfigProblem("audiences", str(exc)))
    try:
        load_traits(traits_file(project_dir))
    except TraitConfigError as exc:
        problems.append(ConfigProblem("traits", str(exc)))
    try:
        check_presets(settings, project_dir)
    except SourcePresetConfigError as exc:
        problems.append(ConfigProblem("source presets", str(exc)))
    try:
        check_sources(settings)
    except (PersonSourceConfigError, PersonSourceLoadError) as exc:
        problems.append(ConfigProblem("person sources", str(exc)))
    return problems


def _shown(path: Path, base: Path) -> str:
    try:
        return str(path.relative_to(base))
    except ValueError:
        return str(path)


def _journeys(settings: Settings, syncs_path: Path, project_dir: Path) -> list[ConfigProblem]:
    """journeys/*.yml against the audiences, traits and syncs (their own problems are reported above)."""
    try:
        project_journeys(project_syncs(settings, syncs_path), project_dir, syncs_path)
    except JourneyConfigError as exc:
        return [ConfigProblem("journeys", str(exc))]
    except (SyncConfigError, AudienceConfigError, TraitConfigError):
        return []
    return []


def _syncs(settings: Settings, path: Path, project_dir: Path) -> list[ConfigProblem]:
    try:
        configs = project_syncs(settings, path)
    except SyncConfigError as exc:
        return [ConfigProblem("syncs", str(exc))]
    return [ConfigProblem("syncs", problem) for problem in _unknown_models(configs, path, project_dir)]


def _unknown_models(configs: list[SyncConfig], path: Path, project_dir: Path) -> list[str]:
    """A sync must read a model of this project: a misspelt model would otherwise fail only at sync time."""
    models = {p.stem for p in (project_dir / "models").rglob("*") if p.suffix in (".sql", ".py")}
    problems = []
    for index, config in enumerate(configs):
        model = config.source.model
        # `schema.table` names a relation outside the project; only a bare name must be a model.
        if "." not in model and model not in models:
            problems.append(
                f"{path}: syncs[{index}].source.model: no model named {model!r} in {project_dir / 'models'} "
                f"(sync {config.name!r})"
            )
    return problems
