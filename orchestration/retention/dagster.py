"""The retention job and its daily schedule (Dagster)."""

from dagster import DefaultScheduleStatus, OpExecutionContext, ScheduleDefinition, job, op

from orchestration.build.jobs import WRITER_TAG
from orchestration.retention.run import run_retention
from orchestration.settings import Settings


@op(description="Fold expired raw rows into daily aggregates, remove them, rebuild, test and publish.")
def enforce_retention_op(context: OpExecutionContext) -> dict:
    report = run_retention(Settings.from_env())
    for t in report.tables:
        context.log.info(
            f"{t.source_name}.{t.table_name}: removed {t.rows_removed} rows before {t.cutoff_at} "
            f"({t.aggregate_rows_written} aggregate rows) {t.note}"
        )
    return report.to_dict()


# Writes the warehouse: queued behind builds by the writer tag (.dagster/dagster.yaml).
@job(
    name="enforce_retention",
    description="Apply retention/retention.yml: aggregate and remove expired raw rows, rebuild, publish.",
    tags={WRITER_TAG: "duckdb"},
)
def enforce_retention() -> None:
    enforce_retention_op()


retention_daily = ScheduleDefinition(
    name="retention_daily",
    job=enforce_retention,
    cron_schedule="0 3 * * *",
    execution_timezone="UTC",
    default_status=DefaultScheduleStatus.RUNNING,
    description="Enforce retention at 03:00 UTC, after the nightly build.",
)
