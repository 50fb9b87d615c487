"""The Definitions Dagster loads (`dagster dev -m orchestration.definitions`): each package's assets, jobs
and schedules, assembled here. Nothing is read at import: Dagster calls `defs()` when it loads."""

from __future__ import annotations

import functools
import os

import dagster as dg

from orchestration.build.assets.dbt import dbt_build_assets
from orchestration.build.assets.publish import published_warehouse_asset
from orchestration.build.assets.raw import raw_sources_asset
from orchestration.build.jobs import build_everything, run_syncs
from orchestration.build.project import (
    dbt_cli,
    dbt_project,
    prepare_manifest_if_dev,
    use_dbt_environment,
)
from orchestration.build.schedules import build_when_data_lands_sensor, nightly_build, syncs_after_build
from orchestration.journeys.dagster import journey_assets, journeys_wait_sensor
from orchestration.journeys.project import project_journeys
from orchestration.privacy.erase import retry_pending_for_sync
from orchestration.privacy.jobs import privacy_erase, privacy_export
from orchestration.retention.dagster import enforce_retention, retention_daily
from orchestration.settings import Settings
from orchestration.sync.assets import sync_assets
from orchestration.sync.project import project_syncs
from orchestration.sync.schedules import sync_schedules
from orchestration.warehouse.registry import get_warehouse


def syncs_enabled(settings: Settings) -> bool:
    """Syncs are defined where the warehouse has a sync engine and syncs/syncs.yml declares some."""
    return get_warehouse(settings).runs_syncs and bool(sync_assets(settings))


def definitions_for(settings: Settings) -> dg.Definitions:
    """The definitions for `settings`, one per settings and dbt target folder in a process: the target
    folder (DBT_TARGET_PATH, else target/) is where the dbt assets read the manifest (build.project.
    dbt_project), so definitions made while another folder was set must not serve this one."""
    return _definitions_for(settings, os.environ.get("DBT_TARGET_PATH", "target"))


@functools.cache
def _definitions_for(settings: Settings, target_path: str) -> dg.Definitions:
    use_dbt_environment(settings)
    project = dbt_project(settings.target)
    # Under `dagster dev` the manifest is parsed on load; elsewhere `tessera` parses it first.
    prepare_manifest_if_dev(settings)
    dbt_assets = dbt_build_assets(settings)
    syncs = sync_assets(settings, before_send=retry_pending_for_sync) if syncs_enabled(settings) else []
    # Journeys end in a sync step, so they run where syncs do (docs/journeys.md).
    journeys = journey_assets(settings, project_journeys(project_syncs(settings))) if syncs else []
    return dg.Definitions(
        assets=[
            raw_sources_asset(settings),
            dbt_assets,
            published_warehouse_asset(settings, dbt_assets),
            *syncs,
            *journeys,
        ],
        jobs=[
            build_everything,
            *([run_syncs] if syncs else []),
            privacy_erase,
            privacy_export,
            enforce_retention,
        ],
        schedules=[
            nightly_build,
            retention_daily,
            *(sync_schedules(project_syncs(settings)) if syncs else []),
        ],
        sensors=[
            *([build_when_data_lands_sensor(settings)] if get_warehouse(settings).publishes else []),
            *([syncs_after_build] if syncs else []),
            *([journeys_wait_sensor(settings, build_everything)] if journeys else []),
        ],
        resources={"dbt": dbt_cli(project)},
    )


@dg.definitions
def defs() -> dg.Definitions:
    """The definitions for the warehouse the environment names (TESSERA_TARGET, …)."""
    return definitions_for(Settings.from_env())
