"""Enforcing retention through write-audit-publish: a build copy, the removals, dbt build, audit, publish."""

from __future__ import annotations

import contextlib
import datetime as dt
import logging
from collections.abc import Iterator
from dataclasses import dataclass, field

from orchestration.pipeline import build_models
from orchestration.retention.config import load_policies
from orchestration.retention.engine import DuckDBRunner, PostgresRunner, Runner, TableRetention, enforce
from orchestration.settings import Settings
from orchestration.warehouse import (
    Audit,
    PostgresWarehouse,
    PublishBlocked,
    get_warehouse,
    open_file,
    open_read_only,
    writer_lock,
)

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


@contextlib.contextmanager
def _runner(settings: Settings, *, build: bool) -> Iterator[Runner]:
    """The build database (build=True) or the published one, read-only, as a Runner."""
    if settings.target == "postgres":
        con = PostgresWarehouse(settings).connect()
        try:
            yield PostgresRunner(con)
            con.commit()
        finally:
            con.close()
        return
    if build:
        duck = open_file(settings.build_db)
    else:
        if not settings.published_db.exists():
            raise FileNotFoundError(
                f"nothing is published yet at {settings.published_db}: run the build first"
            )
        duck = open_read_only(settings.published_db)
    try:
        yield DuckDBRunner(duck)
        if build:
            duck.execute("checkpoint warehouse")
    finally:
        duck.close()


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
        audit = Audit.from_run_results(build_models(settings))
        audit.write(settings.audit_path)
        if not audit.passed:
            raise PublishBlocked(
                "Retention applied in the build, but the build failed its audit, so nothing was published: "
                + "; ".join(f["node"] for f in audit.failures[:10])
            )
        warehouse.publish()
        report.published = True
    log.info("retention: %d raw rows removed, published", report.rows_removed)
    return report
