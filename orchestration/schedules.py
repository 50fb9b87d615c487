"""Schedules: the nightly build."""

from __future__ import annotations

from dagster import DefaultScheduleStatus, ScheduleDefinition

from orchestration.jobs import build_everything

nightly_build = ScheduleDefinition(
    name="nightly_build",
    job=build_everything,
    cron_schedule="0 2 * * *",
    execution_timezone="UTC",
    default_status=DefaultScheduleStatus.RUNNING,
    description="Rebuild everything at 02:00 UTC.",
)
