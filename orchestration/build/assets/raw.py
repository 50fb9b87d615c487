"""The raw source tables: loaded from the generated files into the build database."""

import json

from dagster import (
    AssetExecutionContext,
    AssetsDefinition,
    AssetSpec,
    Failure,
    MaterializeResult,
    multi_asset,
)

from orchestration.build.landing import record_landed
from orchestration.build.project import dbt_project
from orchestration.settings import Settings
from orchestration.warehouse.connection import writer_lock
from orchestration.warehouse.raw_contract import RawContractError
from orchestration.warehouse.registry import get_warehouse


def _source_specs(settings: Settings) -> list[AssetSpec]:
    """One spec per dbt source table, keyed as dagster-dbt keys sources ([source, table])."""
    manifest_path = dbt_project(settings.target).manifest_path
    if not manifest_path.exists():
        return []
    manifest = json.loads(manifest_path.read_text())
    specs = []
    for source in sorted(manifest["sources"].values(), key=lambda s: s["unique_id"]):
        if not source["schema"].startswith("raw_"):
            # Not loaded from a raw file (e.g. `retained`, written by retention): an upstream
            # source of the dbt assets, but no output of this step, which would skip dbt.
            continue
        if (source.get("meta") or {}).get("optional"):
            # A raw file that exists only once someone writes it (the review decisions): loaded when
            # present, but no output of this step, or its absence would skip dbt.
            continue
        specs.append(
            AssetSpec(
                key=[source["source_name"], source["name"]],
                description=source.get("description") or None,
                group_name="raw",
                kinds={"parquet", settings.target},
                skippable=True,
            )
        )
    return specs


def raw_sources_asset(settings: Settings) -> AssetsDefinition:
    @multi_asset(specs=_source_specs(settings), name="raw_sources", can_subset=True)
    def raw_sources(context: AssetExecutionContext):
        """Start a build from the published state and load every raw file into raw_<source>.<table>."""
        warehouse = get_warehouse(settings)
        with writer_lock(settings):
            warehouse.prepare_build()
            record_landed(settings)
            try:
                loads = warehouse.load_raw(settings.raw_dir)
            except RawContractError as exc:
                # The same one line as `tessera run` prints; dbt and publishing are skipped.
                raise Failure(description=str(exc), allow_retries=False) from None
        by_key = {(load.source, load.table): load for load in loads}
        for key in context.selected_asset_keys:
            load = by_key.get(tuple(key.path))  # type: ignore[arg-type]
            if load is None:
                context.log.warning("no raw file for %s in %s", key.to_user_string(), settings.raw_dir)
                continue
            yield MaterializeResult(
                asset_key=key,
                metadata={
                    "rows": load.rows,
                    "columns_added": ", ".join(load.columns_added) or "none",
                    "columns_missing": ", ".join(load.columns_missing) or "none",
                },
            )

    return raw_sources
