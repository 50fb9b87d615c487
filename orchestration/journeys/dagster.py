"""Journeys in Dagster: one asset per journey between its audiences and its sync, and a sensor that
starts a build when a member's wait has elapsed since the last build (so the sync step can run)."""

import datetime as dt

from dagster import (
    AssetExecutionContext,
    AssetKey,
    AssetsDefinition,
    DefaultSensorStatus,
    JobDefinition,
    MaterializeResult,
    RunRequest,
    SensorDefinition,
    SensorEvaluationContext,
    SkipReason,
    asset,
    sensor,
)

from orchestration.journeys.config import JourneyConfig
from orchestration.settings import Settings
from orchestration.warehouse.registry import get_warehouse

STATE_MODEL = "journey_members"
STATUSES = ("waiting", "ready", "held_out", "exited")


def journey_asset_key(name: str) -> AssetKey:
    return AssetKey([f"journey_{name}"])


def journey_counts(settings: Settings, name: str) -> dict[str, int]:
    """Members per status of one journey in the published journey_members."""
    rows = get_warehouse(settings).query_published(
        f"select status, count(*) from {STATE_MODEL} where journey_name = '{name}' group by 1"
    )
    counts = {status: 0 for status in STATUSES}
    counts.update({str(status): int(count) for status, count in rows})
    return counts


def _journey_asset(settings: Settings, journey: JourneyConfig) -> AssetsDefinition:
    steps = " → ".join(step.kind for step in journey.steps)

    @asset(
        key=journey_asset_key(journey.name),
        deps=[
            *(AssetKey([f"audience_{audience}"]) for audience in journey.audiences),
            AssetKey([STATE_MODEL]),
            AssetKey(["published_warehouse"]),
        ],
        group_name="journeys",
        kinds={"journey"},
        description=journey.description
        or f"Journey {journey.name}: audience {journey.entry.audience} → {steps} {journey.sync}.",
        tags={"tessera/journey": journey.name},
        metadata={"entry_audience": journey.entry.audience, "steps": steps, "sync": journey.sync},
    )
    def _state(context: AssetExecutionContext) -> MaterializeResult:
        counts = journey_counts(settings, journey.name)
        context.log.info("journey %s: %s", journey.name, counts)
        return MaterializeResult(metadata=dict(counts))

    return _state


def journey_assets(settings: Settings, journeys: list[JourneyConfig]) -> list[AssetsDefinition]:
    """One asset per journey: the published state of its members, read after each build."""
    return [_journey_asset(settings, journey) for journey in journeys]


def due_waits(settings: Settings) -> tuple[int, object]:
    """Members still `waiting` in the published state whose waits have all elapsed by now (the
    warehouse's clock, the one the model used): the state was computed before their time came, so a
    build would move them on. Returns (count, the latest such wait_elapses_at)."""
    warehouse = get_warehouse(settings)
    rows = warehouse.query_published(
        f"select count(*), max(wait_elapses_at) from {STATE_MODEL} "
        f"where status = 'waiting' and wait_elapses_at <= {warehouse.utc_now_sql}"
    )
    count, latest = rows[0] if rows else (0, None)
    return int(count or 0), latest


def journeys_wait_sensor(settings: Settings, build_job: JobDefinition) -> SensorDefinition:
    """Every 15 minutes: when a published member's wait has elapsed since the last build, start the
    build (one build path), after which the sensor `syncs_after_build` runs the journeys' sync steps.
    The run key is the latest elapsed wait and the hour: one due wait starts one build, and a build
    that failed (so the state did not move) is tried again the next hour, not never."""

    @sensor(
        name="journeys_waits_elapsed",
        job=build_job,
        minimum_interval_seconds=15 * 60,
        default_status=DefaultSensorStatus.RUNNING,
        description="Rebuild when a journey member's wait has elapsed, so its sync step runs.",
    )
    def _sensor(context: SensorEvaluationContext) -> RunRequest | SkipReason:
        try:
            count, latest = due_waits(settings)
        except Exception as exc:  # nothing published yet, or a build without journey_members
            return SkipReason(f"the published journey state cannot be read ({type(exc).__name__})")
        if not count:
            return SkipReason("no journey member's wait has elapsed since the last build")
        context.log.info("journeys: %d member(s) waiting past their wait; starting a build", count)
        hour = dt.datetime.now(dt.UTC).strftime("%Y%m%d%H")
        return RunRequest(run_key=f"journey-waits-{latest}-{hour}", tags={"tessera/reason": "journey-waits"})

    return _sensor
