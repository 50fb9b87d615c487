"""Enforcing retention through write-audit-publish: a build copy, the removals, dbt build, audit, publish."""

from __future__ import annotations

import datetime as dt
import logging
from contextlib import AbstractContextManager
from dataclasses import dataclass, field

from orchestration.build.pipeline import build_and_audit
from orchestration.retention.config import load_policies
from orchestration.retention.engine import Runner, TableRetention, enforce
from orchestration.settings import Settings
from orchestration.warehouse.audit import PublishBlocked
from orchestration.warehouse.connection import writer_lock
from orchestration.warehouse.registry import get_warehouse

log = logging.getLogger(__name__)


@dataclass
class RetentionReport:
    as_of: dt.datetime
    dry_run: bool
    tables: list[TableRetention] = field(default_factory=list)
    published: bool = False

    @property
    def rows_removed(self) -> int:
        return sum(t.rows_removed for t in self.tables)

    def to_dict(self) -> dict:
        return {
            "as_of": self.as_of.isoformat(sep=" "),
            "dry_run": self.dry_run,
            "published": self.published,
            "rows_removed": self.rows_removed,
            "tables": [t.to_dict() for t in self.tables],
        }


def _runner(settings: Settings, *, build: bool) -> AbstractContextManager[Runner]:
    """The build database (build=True) or the published one, read-only, as a Runner."""
    return get_warehouse(settings).retention_runner(build=build)


def run_retention(
    settings: Settings, *, as_of: dt.datetime | None = None, dry_run: bool = False
) -> RetentionReport:
    """Apply every policy at its cut-off for `as_of` (default: now, UTC).

    A dry run reads the published data and changes nothing. A real run takes the writer lock, starts a
    build from the published state, folds and removes the expired raw rows there, rebuilds and tests
    every model (so derived tables lose the rows too), and publishes only if the audit passes. On
    Postgres the raw schemas are live tables outside the build swap: their rows go at once."""
    as_of = as_of or dt.datetime.now(dt.UTC).replace(tzinfo=None)
    policies = load_policies()
    report = RetentionReport(as_of, dry_run)
    if dry_run:
        with _runner(settings, build=False) as runner:
            report.tables = enforce(runner, policies, as_of=as_of, dry_run=True)
        return report
    warehouse = get_warehouse(settings)
    with writer_lock(settings):
        warehouse.prepare_build()
        with _runner(settings, build=True) as runner:
            report.tables = enforce(runner, policies, as_of=as_of, trigger="schedule")
        # Rows past their retention left the raw tables: every event row is staged again, without them.
        audit, _ = build_and_audit(settings, reason="retention", restage=True)
        if not audit.passed:
            raise PublishBlocked(
                "Retention applied in the build, but the build failed its audit, so nothing was published: "
                + "; ".join(f["node"] for f in audit.failures[:10])
            )
        warehouse.publish()
        report.published = True
    log.info("retention: %d raw rows removed, published", report.rows_removed)
    return report
