"""Python's queries of the published warehouse compare with the same clock as the models: each
warehouse's utc_now_sql is what the dbt macro tessera.utc_now renders for its adapter. The journeys' wait
sensor's query also runs in a local Spark session (skipped like tests/test_spark_json.py unless
TESSERA_TEST_SPARK=1 and the spark extra is installed)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import sqlglot

from tests.spark_marks import SPARK_MARKS

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


def _on_spark(test):  # type: ignore[no-untyped-def]
    """The Spark tests' marks (tests/spark_marks.py): skipped unless TESSERA_TEST_SPARK=1 and the spark extra."""
    for mark in SPARK_MARKS:
        test = mark(test)
    return test


@_on_spark
def test_the_journeys_sensor_finds_elapsed_waits_on_spark(monkeypatch):
    """The journeys' wait sensor's query (journeys.dagster.due_waits), as Spark SQL runs it: the waiting
    members whose wait has elapsed, not those still waiting nor those that moved on. Before it asked with
    the warehouse's utc_now_sql, the query failed on Spark (UNRESOLVED_ROUTINE timezone)."""
    import datetime as dt

    from pyspark.sql import SparkSession

    from orchestration.journeys import dagster as journeys
    from orchestration.warehouse.spark import SparkWarehouse

    spark = (
        SparkSession.builder.master("local[1]")
        .config("spark.ui.enabled", "false")
        .config("spark.sql.shuffle.partitions", "1")
        .getOrCreate()
    )

    class PublishedOnSpark:
        utc_now_sql = SparkWarehouse.utc_now_sql

        def query_published(self, sql: str) -> list[tuple]:
            return [tuple(row) for row in spark.sql(sql).collect()]

    monkeypatch.setattr(journeys, "get_warehouse", lambda settings: PublishedOnSpark())
    now = dt.datetime.now(dt.UTC).replace(tzinfo=None)
    try:
        spark.createDataFrame(
            [
                ("waiting", now - dt.timedelta(days=2)),
                ("waiting", now - dt.timedelta(hours=1)),
                ("waiting", now + dt.timedelta(days=1)),
                ("sent", now - dt.timedelta(days=3)),
            ],
            "status string, wait_elapses_at timestamp",
        ).createOrReplaceTempView(journeys.STATE_MODEL)
        count, latest = journeys.due_waits(None)  # type: ignore[arg-type]
    finally:
        spark.stop()
    assert count == 2
    assert abs(latest - (now - dt.timedelta(hours=1))) < dt.timedelta(seconds=1)
