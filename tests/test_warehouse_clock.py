"""Python's queries of the published warehouse compare with the same clock as the models: each
warehouse's utc_now_sql is what the dbt macro tessera.utc_now renders for its adapter."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import sqlglot

MACRO = Path(__file__).parent.parent / "macros" / "cross_db" / "utc_now.sql"
DIALECTS = {"duckdb": "duckdb", "postgres": "postgres", "spark": "spark"}


def _rendered(adapter: str) -> str:
    """The body of `<adapter>__utc_now`, else `default__utc_now`, in macros/cross_db/utc_now.sql."""
    text = MACRO.read_text()
    for name in (f"{adapter}__utc_now", "default__utc_now"):
        found = re.search(r"{%\s*macro " + name + r"\(\)\s*-%}(.*?){%-\s*endmacro", text, re.S)
        if found:
            return " ".join(found.group(1).split())
    raise AssertionError(f"no utc_now for {adapter} in {MACRO}")


@pytest.mark.parametrize("adapter", sorted(DIALECTS))
def test_each_warehouse_asks_for_now_as_the_models_do(adapter):
    from orchestration.warehouse.duckdb import DuckDBWarehouse
    from orchestration.warehouse.postgres import PostgresWarehouse
    from orchestration.warehouse.spark import SparkWarehouse

    warehouse = {"duckdb": DuckDBWarehouse, "postgres": PostgresWarehouse, "spark": SparkWarehouse}[adapter]
    assert warehouse.utc_now_sql == _rendered(adapter)
    # And it is an expression of that warehouse's dialect (the journeys' sensor compares with it).
    sqlglot.parse_one(f"select 1 where now_col <= {warehouse.utc_now_sql}", read=DIALECTS[adapter])
