"""The project's journeys, validated against its audiences, trait registry and syncs."""

from __future__ import annotations

from pathlib import Path

from orchestration.audiences.definitions import audiences_dir, load_traits, traits_file
from orchestration.audiences.rules import load_project
from orchestration.journeys.config import JourneyConfig, JourneyContext, journeys_dir, load_journeys
from orchestration.settings import PROJECT_DIR
from orchestration.sync.config import SyncConfig


def journey_context(syncs: list[SyncConfig], project_dir: Path = PROJECT_DIR) -> JourneyContext:
    """What a journey may name: the declared audiences, the registry traits and `syncs`."""
    project = load_project(audiences_dir(project_dir))
    return JourneyContext(
        audiences=frozenset(a.name for a in project.audiences),
        traits={t.name: t.data_type for t in load_traits(traits_file(project_dir))},
        syncs={sync.name: sync.source.journey for sync in syncs},
    )


def project_journeys(syncs: list[SyncConfig], project_dir: Path = PROJECT_DIR) -> list[JourneyConfig]:
    """journeys/*.yml (or $TESSERA_JOURNEYS_DIR), each checked against the project and `syncs`: its
    sync step must name a sync whose source is the journey. Raises JourneyConfigError."""
    return load_journeys(journeys_dir(project_dir), journey_context(syncs, project_dir))
