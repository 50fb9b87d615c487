"""Builds that run outside a Dagster run (benchmarks, erasure, retention, tests) still show in Dagster:
each model they built is reported to the Dagster instance as a materialization of its asset, saying
what asked for the build. Dagster's own runs record theirs as they go (orchestration/build/assets/)."""

from __future__ import annotations

import logging
import os

from dagster import AssetKey, AssetMaterialization, DagsterInstance, MetadataValue

from orchestration.settings import Settings

log = logging.getLogger(__name__)


def report_materializations(settings: Settings, results: list[dict], *, reason: str) -> int:
    """One runless materialization per model or seed that built; returns how many were reported.

    Nothing is reported where no Dagster instance is configured (DAGSTER_HOME unset): there is no UI
    to show them in, and an ephemeral instance would keep them nowhere."""
    if not os.environ.get("DAGSTER_HOME"):
        log.debug("DAGSTER_HOME is not set: the %s build is not reported to Dagster", reason)
        return 0
    built = [
        result
        for result in results
        if result.get("status") == "success"
        and result.get("unique_id", "").split(".", 1)[0] in ("model", "seed")
    ]
    with DagsterInstance.get() as instance:
        for result in built:
            name = result["unique_id"].split(".")[-1]
            instance.report_runless_asset_event(
                AssetMaterialization(
                    asset_key=AssetKey([name]),
                    description=f"rebuilt outside a Dagster run, by {reason}",
                    metadata={
                        "tessera/reason": reason,
                        "tessera/target": settings.target,
                        "execution_time_s": MetadataValue.float(float(result.get("execution_time") or 0.0)),
                    },
                )
            )
    log.info("%d rebuilt models reported to Dagster (%s)", len(built), reason)
    return len(built)
