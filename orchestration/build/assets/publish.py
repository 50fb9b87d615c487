"""Publishing: the audited build replaces what analysts and syncs read."""

from dagster import AssetExecutionContext, AssetsDefinition, MaterializeResult, asset

from orchestration.settings import Settings
from orchestration.warehouse.connection import writer_lock
from orchestration.warehouse.registry import get_warehouse


def published_warehouse_asset(settings: Settings, dbt_assets: AssetsDefinition) -> AssetsDefinition:
    @asset(deps=[dbt_assets], group_name="publish", kinds={settings.target})
    def published_warehouse(context: AssetExecutionContext) -> MaterializeResult:
        """Atomically publish the build, only if its audit passed (PublishBlocked otherwise)."""
        warehouse = get_warehouse(settings)
        with writer_lock(settings):
            warehouse.publish()
        context.log.info("published to %s", warehouse.describe_published())
        return MaterializeResult(metadata={"location": warehouse.describe_published()})

    return published_warehouse
