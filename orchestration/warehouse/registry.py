"""The warehouse a build uses, chosen by the settings' target."""

from __future__ import annotations

from orchestration.settings import Settings
from orchestration.warehouse.duckdb import DuckDBWarehouse
from orchestration.warehouse.interface import Warehouse
from orchestration.warehouse.postgres import PostgresWarehouse

WAREHOUSES: dict[str, type[DuckDBWarehouse] | type[PostgresWarehouse]] = {
    "duckdb": DuckDBWarehouse,
    "postgres": PostgresWarehouse,
}


def get_warehouse(settings: Settings) -> Warehouse:
    try:
        implementation = WAREHOUSES[settings.target]
    except KeyError:
        raise ValueError(
            f"unknown target {settings.target!r}: Tessera runs on {', '.join(sorted(WAREHOUSES))}"
        ) from None
    return implementation(settings)
