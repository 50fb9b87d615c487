"""What probabilistic matching decided in a published warehouse, in a form two warehouses can be compared by."""

from __future__ import annotations

import re
from datetime import date, datetime
from typing import Any

import pytest

from orchestration.warehouse.registry import get_warehouse

# Probabilities and weights agree to this; pair sets, levels, statuses and customers exactly.
TOLERANCE = 1e-6


def _rows(settings: Any, sql: str) -> list[tuple]:
    return [tuple(row) for row in get_warehouse(settings).query_published(sql)]


def probabilistic_outcome(settings: Any) -> dict[str, Any]:
    levels = ", ".join(
        f"{c}_level"
        for c in ("first_name", "last_name", "date_of_birth", "email", "phone", "street", "postcode")
    )
    return {
        "model": _rows(
            settings,
            "select comparison_name, comparison_vector_value, level_label, m_probability, u_probability, "
            "records from int_identity__match_model order by 1, 2",
        ),
        "pairs": _rows(
            settings,
            "select pair_id, unique_id_l, unique_id_r, names_compatible, has_independent_evidence, "
            f"{levels}, match_probability, match_weight from int_identity__match_pairs order by 1",
        ),
        "links": _rows(
            settings,
            "select pair_id, link_status, is_edge, match_probability from int_identity__probabilistic_links order by 1",
        ),
        "edges": _rows(
            settings,
            "select pair_id, link_rule, source_name, table_name, record_id, confidence from identity_links "
            "where pair_id is not null order by 1, 3, 4, 5",
        ),
        "review_queue": _rows(
            settings,
            "select pair_id, unique_id_l, unique_id_r, review_reason, match_probability "
            "from identity_review_queue order by 1",
        ),
        # Which records are one customer (the ids themselves may carry forward differently).
        "customers": sorted(
            tuple(sorted(records))
            for records in _group(
                _rows(
                    settings,
                    "select customer_id, source_name || ':' || table_name || ':' || record_id, placed_by, "
                    "confidence from customer_source_records",
                )
            )
        ),
    }


def _group(rows: list[tuple]) -> list[list[tuple]]:
    by_customer: dict[str, list[tuple]] = {}
    for customer_id, record, placed_by, confidence in rows:
        by_customer.setdefault(customer_id, []).append((record, placed_by, round(float(confidence), 6)))
    return list(by_customer.values())


def assert_same_outcome(duckdb_side: dict[str, Any], postgres_side: dict[str, Any]) -> None:
    """Everything equal; floats (the last columns named in probabilistic_outcome) to TOLERANCE."""
    for part in duckdb_side:
        duck, pg = duckdb_side[part], postgres_side[part]
        assert len(duck) == len(pg), f"{part}: {len(duck)} rows on DuckDB, {len(pg)} on Postgres"
        for d, p in zip(duck, pg, strict=True):
            exact_d = tuple(v for v in d if not isinstance(v, float))
            exact_p = tuple(v for v in p if not isinstance(v, float))
            assert exact_d == exact_p, f"{part}: {d} on DuckDB, {p} on Postgres"
            floats_d = [v for v in d if isinstance(v, float)]
            floats_p = [v for v in p if isinstance(v, float)]
            assert floats_d == pytest.approx(floats_p, abs=TOLERANCE), (
                f"{part}: {d} on DuckDB, {p} on Postgres"
            )


# Rows of two warehouses compared value by value (tests/test_spark.py, tests/test_spark_dagster.py).

_TIMESTAMP_TEXT = re.compile(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d(\.\d+)?")


def canonical(value):
    """A value as both warehouses can give it: the Thrift server sends timestamps as text, DuckDB as
    datetime; both become the same text (to the microsecond)."""
    if isinstance(value, str) and _TIMESTAMP_TEXT.fullmatch(value):
        value = datetime.fromisoformat(value)
    if isinstance(value, datetime):
        return value.strftime("%Y-%m-%d %H:%M:%S.%f")
    if isinstance(value, date):
        return value.isoformat()
    return value


def sort_key(row: tuple) -> tuple:
    """Rows in one order on both sides, nulls included (None does not compare with text)."""
    return tuple((value is None, str(value)) for value in row)


def differences(on_spark: list[tuple], on_duckdb: list[tuple]) -> list[tuple]:
    """The rows that differ: anything but a float exactly, floats to 1e-9."""
    if len(on_spark) != len(on_duckdb):
        return [("rows", len(on_spark), len(on_duckdb))]
    differing = []
    for spark_row, duckdb_row in zip(on_spark, on_duckdb, strict=True):
        exact = [(a, b) for a, b in zip(spark_row, duckdb_row, strict=True) if not isinstance(b, float)]
        close = [(a, b) for a, b in zip(spark_row, duckdb_row, strict=True) if isinstance(b, float)]
        if any(a != b for a, b in exact) or any(a is None or abs(a - b) > 1e-9 for a, b in close):
            differing.append((spark_row, duckdb_row))
    return differing
