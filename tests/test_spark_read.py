"""What the Python steps read from Spark without a cluster (issue #17): SparkWarehouse.read_build_table
fetches rows through the Thrift server, which sends dates and timestamps as text; arrow_column gives
them their declared types, so identity matching (orchestration/identity/external.py) gets the Arrow
types it gets from DuckDB and Postgres. tests/test_spark.py runs the step on a real cluster."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pyarrow as pa
import pytest

from orchestration.warehouse.spark import arrow_column


@pytest.mark.parametrize(
    ("declared", "values", "arrow_type", "expected"),
    [
        ("date", ["1972-02-15", None], pa.date32(), [dt.date(1972, 2, 15), None]),
        (
            "timestamp",
            ["2025-03-07 13:44:40.42117", "2025-03-07 13:44:40", None],
            pa.timestamp("us"),
            [dt.datetime(2025, 3, 7, 13, 44, 40, 421170), dt.datetime(2025, 3, 7, 13, 44, 40), None],
        ),
        # PyHive parses a timestamp column's text itself (the feature snapshots' cutoff_at arrived so).
        (
            "timestamp",
            [dt.datetime(2025, 10, 28, 17, 49, 24, 876071), None],
            pa.timestamp("us"),
            [dt.datetime(2025, 10, 28, 17, 49, 24, 876071), None],
        ),
        ("bigint", [1, None], pa.int64(), [1, None]),
        ("int", [7], pa.int32(), [7]),
        ("double", [0.5, None], pa.float64(), [0.5, None]),
        ("boolean", [True, False, None], pa.bool_(), [True, False, None]),
        ("string", ["a", None], pa.string(), ["a", None]),
        ("STRING", [None], pa.string(), [None]),
    ],
)
def test_a_fetched_column_takes_its_declared_type(declared, values, arrow_type, expected):
    column = arrow_column(values, declared)
    assert column.type == arrow_type
    assert column.to_pylist() == expected


def test_an_empty_column_keeps_its_type():
    assert arrow_column([], "date").type == pa.date32()


def test_a_decimal_takes_its_declared_precision_whatever_the_values():
    """Batches of one table read apart type alike: a batch of small amounts and one of large amounts
    both come out as the declared decimal(18,2), so the stream's batches join."""
    small = arrow_column([Decimal("1.50")], "decimal(18,2)")
    large = arrow_column([Decimal("1234567890123.25"), None], "DECIMAL(18, 2)")
    assert small.type == large.type == pa.decimal128(18, 2)
    assert pa.chunked_array([small, large]).to_pylist() == [
        Decimal("1.50"),
        Decimal("1234567890123.25"),
        None,
    ]
    assert arrow_column([], "decimal(18,2)").type == pa.decimal128(18, 2)


def test_a_type_it_does_not_know_is_left_to_arrow():
    assert arrow_column([[1, 2]], "array<int>").to_pylist() == [[1, 2]]


def test_text_that_is_not_a_date_fails_rather_than_turning_null():
    with pytest.raises(pa.ArrowInvalid):
        arrow_column(["15/02/1972"], "date")
