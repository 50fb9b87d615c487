"""The project's journeys, validated against its audiences, trait registry and syncs."""

from __future__ import annotations

import os
from pathlib import Path

from orchestration.audiences.definitions import audiences_dir, load_traits, traits_file
from orchestration.audiences.rules import load_project
from orchestration.journeys.config import (
    JOURNEYS_DIR_ENV,
    JourneyConfig,
    JourneyContext,
    journeys_dir,
    load_journeys,
)
from orchestration.settings import PROJECT_DIR
from orchestration.sync.config import SyncConfig
from orchestration.sync.project import syncs_file


def journey_context(syncs: list[SyncConfig], project_dir: Path = PROJECT_DIR) -> JourneyContext:
    """What a journey may name: the declared audiences, the registry traits and `syncs`."""
    project = load_project(audiences_dir(project_dir))
    return JourneyContext(
        audiences=frozenset(a.name for a in project.audiences),
        traits={t.name: t.data_type for t in load_traits(traits_file(project_dir))},
        syncs={sync.name: sync.source.journey for sync in syncs},
    )


def project_journeys(
    syncs: list[SyncConfig], project_dir: Path = PROJECT_DIR, syncs_path: Path | None = None
) -> list[JourneyConfig]:
    """journeys/*.yml (or $TESSERA_JOURNEYS_DIR), each checked against the project and `syncs` (read from
    `syncs_path`, default the sync file in use): its sync step must name a sync whose source is the
    journey. Raises JourneyConfigError. The project's journeys go with the project's sync file: when
    TESSERA_SYNCS_FILE names another file and TESSERA_JOURNEYS_DIR is not set, there are none."""
    path = syncs_path or syncs_file()
    if (
        JOURNEYS_DIR_ENV not in os.environ
        and path.resolve() != (project_dir / "syncs" / "syncs.yml").resolve()
    ):
        return []
    return load_journeys(journeys_dir(project_dir), journey_context(syncs, project_dir))
