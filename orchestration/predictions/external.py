"""Scoring outside dbt, for warehouses whose dbt adapter runs no Python models (Postgres).

On DuckDB, int_customer_features_scored is a dbt Python model and one `dbt build` does everything.
Elsewhere the build runs in phases around the Python steps (orchestration/outside_dbt.py): once the
feature snapshots are built, `score_outside_dbt` reads them from the build schema, runs the same
`score_features`, and writes int_customer_features_scored__python; the next invocation builds the
scores model (a copy of that table) and everything downstream.
"""

from __future__ import annotations

import logging
import time
from typing import Any

import pyarrow as pa

from orchestration.predictions.scoring import score_features
from orchestration.settings import Settings
from orchestration.warehouse import PostgresWarehouse

log = logging.getLogger(__name__)

FEATURES_MODEL = "int_customer_features_snapshotted"
SCORES_MODEL = "int_customer_features_scored"
WRITTEN_TABLE = f"{SCORES_MODEL}__python"


def score_outside_dbt(settings: Settings) -> dict[str, Any]:
    """Read the feature snapshots from the build schema, score them, write the scores table."""
    started = time.monotonic()
    warehouse = PostgresWarehouse(settings)
    schema = settings.postgres.build_schema
    with warehouse.connect() as con, con.cursor() as cur:
        cur.execute(
            "select 1 from information_schema.tables where table_schema = %s and table_name = %s",
            (schema, FEATURES_MODEL),
        )
        if cur.fetchone() is None:
            raise RuntimeError(
                f"{schema}.{FEATURES_MODEL} does not exist: the dbt invocation before scoring did not build the feature snapshots"
            )
        cur.execute(f'select * from "{schema}"."{FEATURES_MODEL}"')
        names = [d[0] for d in cur.description]
        rows = cur.fetchall()
    columns = list(zip(*rows, strict=True)) if rows else [() for _ in names]
    features = pa.table({name: _column(values) for name, values in zip(names, columns, strict=True)})
    read_seconds = time.monotonic() - started
    scored = score_features(features)
    warehouse.write_build_table(WRITTEN_TABLE, scored)
    seconds = time.monotonic() - started
    log.info("scored %d rows outside dbt in %.1f s (read %.1f s)", scored.num_rows, seconds, read_seconds)
    return {"rows": scored.num_rows, "seconds": seconds}


def _column(values: tuple) -> pa.Array:
    from decimal import Decimal

    if any(isinstance(v, Decimal) for v in values):
        return pa.array([None if v is None else float(v) for v in values], type=pa.float64())
    return pa.array(list(values))
