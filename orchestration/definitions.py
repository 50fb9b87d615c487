"""The one Definitions object Dagster loads (`dagster dev -m orchestration.definitions`)."""

from __future__ import annotations

from dagster import Definitions
from dagster_dbt import DbtCliResource

from orchestration.build.assets.dbt import tessera_dbt_assets
from orchestration.build.assets.publish import published_warehouse
from orchestration.build.assets.raw import raw_sources
from orchestration.build.jobs import build_everything, run_syncs
from orchestration.build.project import settings, tessera_project
from orchestration.build.schedules import nightly_build, syncs_after_build
from orchestration.privacy.jobs import privacy_erase, privacy_export
from orchestration.retention.dagster import enforce_retention, retention_daily
from orchestration.sync.assets import sync_assets
from orchestration.warehouse.registry import get_warehouse

# Syncs are defined where the warehouse has a sync engine.
syncs_enabled = get_warehouse(settings).runs_syncs and bool(sync_assets)

defs = Definitions(
    assets=[raw_sources, tessera_dbt_assets, published_warehouse, *(sync_assets if syncs_enabled else [])],
    jobs=[
        build_everything,
        *([run_syncs] if syncs_enabled else []),
        privacy_erase,
        privacy_export,
        enforce_retention,
    ],
    schedules=[nightly_build, retention_daily],
    sensors=[syncs_after_build] if syncs_enabled else [],
    resources={
        "dbt": DbtCliResource(
            project_dir=tessera_project,
            target=tessera_project.target,
        )
    },
)
