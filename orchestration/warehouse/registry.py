"""The warehouse a build uses, chosen by the settings' target."""

from __future__ import annotations

from orchestration.settings import Settings
from orchestration.warehouse.duckdb import DuckDBWarehouse
from orchestration.warehouse.interface import Warehouse
from orchestration.warehouse.postgres import PostgresWarehouse
from orchestration.warehouse.spark import SparkWarehouse

WAREHOUSES: dict[str, type[DuckDBWarehouse] | type[PostgresWarehouse] | type[SparkWarehouse]] = {
    "duckdb": DuckDBWarehouse,
    "postgres": PostgresWarehouse,
    # Issue #17 in slices (docs/spark.md): builds, publishes (views) and syncs, by `tessera run` or build().
    "spark": SparkWarehouse,
}


def get_warehouse(settings: Settings) -> Warehouse:
    try:
        implementation = WAREHOUSES[settings.target]
    except KeyError:
        raise ValueError(
            f"unknown target {settings.target!r}: Tessera runs on {', '.join(sorted(WAREHOUSES))}"
        ) from None
    return implementation(settings)
