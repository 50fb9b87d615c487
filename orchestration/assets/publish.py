"""Publishing: the audited build replaces what analysts and syncs read."""

from dagster import AssetExecutionContext, MaterializeResult, asset

from orchestration.assets.dbt import tessera_dbt_assets
from orchestration.project import settings
from orchestration.warehouse import get_warehouse, writer_lock


@asset(deps=[tessera_dbt_assets], group_name="publish", kinds={settings.target})
def published_warehouse(context: AssetExecutionContext) -> MaterializeResult:
    """Atomically publish the build, only if its audit passed (PublishBlocked otherwise)."""
    warehouse = get_warehouse(settings)
    with writer_lock(settings):
        warehouse.publish()
    context.log.info("published to %s", warehouse.describe_published())
    return MaterializeResult(metadata={"location": warehouse.describe_published()})
