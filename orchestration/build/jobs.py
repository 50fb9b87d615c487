"""Jobs: the whole pipeline, run one at a time per warehouse writer."""

from __future__ import annotations

from dagster import AssetSelection, define_asset_job, in_process_executor

from orchestration.sync.schedules import SYNC_STATE_TAG

WRITER_TAG = "tessera/warehouse-writer"

# In-process: the steps share one warehouse file anyway, and a subprocess per step costs ~5 s.
build_everything = define_asset_job(
    name="build_everything",
    selection=AssetSelection.all() - AssetSelection.groups("syncs"),
    description="Load the raw sources, build and test every dbt model, and publish if the audit passes.",
    executor_def=in_process_executor,
    tags={WRITER_TAG: "duckdb"},
)

run_syncs = define_asset_job(
    name="run_syncs",
    selection=AssetSelection.groups("syncs"),
    description="Run every sync in syncs/syncs.yml against the published warehouse.",
    executor_def=in_process_executor,
    tags={SYNC_STATE_TAG: "state"},
)
