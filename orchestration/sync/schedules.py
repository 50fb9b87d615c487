"""Each sync's `schedule:` (syncs/syncs.yml) as a Dagster schedule of a job that runs that sync alone.

Syncs also run after every published build (the sensor `syncs_after_build`); a scheduled run between
builds finds what changed since (usually nothing: an unchanged re-run sends no request). A sync with
`timing: {on: entry}` and no `schedule:` runs every 15 minutes (config.ENTRY_SCHEDULE), so members
its quiet hours or a frequency cap deferred go out soon after their window opens. Runs that use
the sync state queue behind each other (the tag below, limited to 1 in .dagster/dagster.yaml)."""

from __future__ import annotations

from dagster import (
    AssetKey,
    AssetSelection,
    DefaultScheduleStatus,
    ScheduleDefinition,
    define_asset_job,
    in_process_executor,
)

from orchestration.sync.config import SyncConfig

SYNC_STATE_TAG = "tessera/sync-state"


def sync_schedules(configs: list[SyncConfig]) -> list[ScheduleDefinition]:
    schedules = []
    for config in configs:
        job = define_asset_job(
            name=f"sync_{config.name}_job",
            selection=AssetSelection.assets(AssetKey([f"sync_{config.name}"])),
            description=f"Run the sync {config.name} alone.",
            executor_def=in_process_executor,
            tags={SYNC_STATE_TAG: "state"},
        )
        schedules.append(
            ScheduleDefinition(
                name=f"sync_{config.name}_schedule",
                job=job,
                cron_schedule=config.schedule,
                execution_timezone="UTC",
                default_status=DefaultScheduleStatus.RUNNING,
                description=(
                    f"syncs/syncs.yml: {config.name} runs at {config.schedule!r} (UTC)"
                    + (
                        ", and after each build for new members (timing on: entry)."
                        if config.timing.on == "entry"
                        else "."
                    )
                ),
            )
        )
    return schedules
