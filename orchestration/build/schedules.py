"""Schedules and sensors: the nightly build, a build whenever new data lands, and the syncs after every
successful build."""

from __future__ import annotations

from dagster import (
    DagsterRunStatus,
    DefaultScheduleStatus,
    DefaultSensorStatus,
    RunRequest,
    RunsFilter,
    RunStatusSensorContext,
    ScheduleDefinition,
    SensorDefinition,
    SensorEvaluationContext,
    SkipReason,
    run_status_sensor,
    sensor,
)

from orchestration.build.jobs import build_everything, run_syncs
from orchestration.build.landing import LANDING_CHECK_SECONDS, landed_since_publish
from orchestration.settings import Settings

# The states of a run that has not finished: a build in one of them reads what lands before it loads.
BUILD_PENDING = [
    DagsterRunStatus.QUEUED,
    DagsterRunStatus.NOT_STARTED,
    DagsterRunStatus.STARTING,
    DagsterRunStatus.STARTED,
]

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


def build_when_data_lands_sensor(settings: Settings) -> SensorDefinition:
    """The sensor that builds when new data lands, for a warehouse that publishes (Warehouse.publishes)."""

    @sensor(
        name="build_when_data_lands",
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
        # A build queued or running records what has landed when it loads: whatever lands before then
        # is read by it, and whatever lands after is seen again once it has published. So one build at a
        # time, however often a loader delivers.
        waiting = context.instance.get_run_records(
            RunsFilter(job_name=build_everything.name, statuses=BUILD_PENDING), limit=1
        )
        if waiting:
            return SkipReason(
                f"a build is {waiting[0].dagster_run.status.value.lower()}: it reads what has landed"
            )
        changed, fingerprint = landed_since_publish(settings)
        if not changed:
            return SkipReason("nothing has landed since the published build read its sources")
        shown = ", ".join(changed[:5]) + (f" and {len(changed) - 5} more" if len(changed) > 5 else "")
        context.log.info("new data: %s", shown)
        # Keyed by the state of the sources: after a build of this state failed, the same state asks for
        # nothing more; the next delivery does.
        return RunRequest(run_key=f"landed-{fingerprint}", tags={"tessera/trigger": "data-landed"})

    return build_when_data_lands
