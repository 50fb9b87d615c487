"""Publishing: the audited build replaces what analysts and syncs read."""

from dagster import AssetExecutionContext, MaterializeResult, asset

from orchestration.build.assets.dbt import tessera_dbt_assets
from orchestration.build.project import settings
from orchestration.warehouse.connection import writer_lock
from orchestration.warehouse.registry import get_warehouse


@asset(deps=[tessera_dbt_assets], group_name="publish", kinds={settings.target})
def published_warehouse(context: AssetExecutionContext) -> MaterializeResult:
    """Atomically publish the build, only if its audit passed (PublishBlocked otherwise)."""
    warehouse = get_warehouse(settings)
    with writer_lock(settings):
        warehouse.publish()
    context.log.info("published to %s", warehouse.describe_published())
    return MaterializeResult(metadata={"location": warehouse.describe_published()})
