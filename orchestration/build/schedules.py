"""Schedules and sensors: the nightly build, and the syncs after every successful build."""

from __future__ import annotations

from dagster import (
    DagsterRunStatus,
    DefaultScheduleStatus,
    DefaultSensorStatus,
    RunRequest,
    RunStatusSensorContext,
    ScheduleDefinition,
    run_status_sensor,
)

from orchestration.build.jobs import build_everything, run_syncs

nightly_build = ScheduleDefinition(
    name="nightly_build",
    job=build_everything,
    cron_schedule="0 2 * * *",
    execution_timezone="UTC",
    default_status=DefaultScheduleStatus.RUNNING,
    description="Rebuild everything at 02:00 UTC.",
)


@run_status_sensor(
    run_status=DagsterRunStatus.SUCCESS,
    monitored_jobs=[build_everything],
    request_job=run_syncs,
    default_status=DefaultSensorStatus.RUNNING,
    description="Run the syncs after a build published: a failed build publishes nothing and syncs nothing.",
)
def syncs_after_build(context: RunStatusSensorContext) -> RunRequest:
    return RunRequest(run_key=context.dagster_run.run_id)
