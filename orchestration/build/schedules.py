"""Schedules and sensors: the nightly build, a build whenever new data lands, and the syncs after every
successful build."""

from __future__ import annotations

from dagster import (
    DagsterRunStatus,
    DefaultScheduleStatus,
    DefaultSensorStatus,
    RunRequest,
    RunStatusSensorContext,
    ScheduleDefinition,
    SensorEvaluationContext,
    SkipReason,
    run_status_sensor,
    sensor,
)

from orchestration.build.jobs import build_everything, run_syncs
from orchestration.build.landing import LANDING_CHECK_SECONDS, landed_since_publish
from orchestration.settings import Settings

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


@sensor(
    job=build_everything,
    minimum_interval_seconds=LANDING_CHECK_SECONDS,
    default_status=DefaultSensorStatus.RUNNING,
    description=(
        "Build when new data lands: a raw file dropped or replaced, a person source's file changed, or a "
        "loader table read in place with a newer load time than the published build read "
        "(orchestration/build/landing.py). The syncs follow the build (syncs_after_build)."
    ),
)
def build_when_data_lands(context: SensorEvaluationContext) -> RunRequest | SkipReason:
    changed, fingerprint = landed_since_publish(Settings.from_env())
    if not changed:
        return SkipReason("nothing has landed since the published build read its sources")
    shown = ", ".join(changed[:5]) + (f" and {len(changed) - 5} more" if len(changed) > 5 else "")
    context.log.info("new data: %s", shown)
    # One run per state of the sources: while that run builds, or after it failed, the same state asks
    # for nothing more; the next delivery does.
    return RunRequest(run_key=f"landed-{fingerprint}", tags={"tessera/trigger": "data-landed"})
