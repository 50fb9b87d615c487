"""`tessera bench audiences`: build time of the audience models at N customers, from dbt's run_results."""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any

from orchestration.audiences.check import check_audiences
from orchestration.build.pipeline import build
from orchestration.generate import generate
from orchestration.identity.bench import bench_settings
from orchestration.warehouse.connection import open_read_only

AUDIENCE_FOLDERS = ("audience_", "int_customers_located_near_stores", "order_items")


def _audience_seconds(node_seconds: dict[str, float]) -> dict[str, float]:
    return {
        name: round(seconds, 3)
        for name, seconds in sorted(node_seconds.items())
        if name.startswith(AUDIENCE_FOLDERS)
    }


def run_audience_benchmark(customers: int, seed: int, workdir: Path) -> dict[str, Any]:
    """Generate a world, build it twice (the second build appends history to the first), and report
    each audience model's seconds, the pre-build check's seconds and the audience sizes."""
    settings = bench_settings(workdir)
    generate(customers=customers, seed=seed, out=settings.data_dir)
    started = time.monotonic()
    checked = check_audiences(settings)
    check_seconds = time.monotonic() - started
    first = build(settings, reason="tessera bench audiences")
    second = build(settings, reason="tessera bench audiences")
    con = open_read_only(settings.published_db)
    try:
        sizes = dict(
            con.execute(
                "select audience_name, member_count from audience_size_history "
                "where built_at = (select max(built_at) from audience_size_history)"
            ).fetchall()
        )
        history_rows = con.execute("select count(*) from audience_membership_history").fetchone()[0]  # type: ignore[index]
        customers_built = con.execute("select count(*) from customers").fetchone()[0]  # type: ignore[index]
    finally:
        con.close()
    per_model_first = _audience_seconds(first.node_seconds)
    per_model_second = _audience_seconds(second.node_seconds)
    return {
        "benchmark": "audiences",
        "customers_generated": customers,
        "customers_built": customers_built,
        "cores": os.cpu_count(),
        "audiences": len(checked.project.audiences),
        "check_seconds": round(check_seconds, 2),
        "audience_models_seconds_first_build": round(sum(per_model_first.values()), 2),
        "audience_models_seconds_second_build": round(sum(per_model_second.values()), 2),
        "whole_build_seconds_first": round(first.seconds, 1),
        "whole_build_seconds_second": round(second.seconds, 1),
        "per_model_first_build": per_model_first,
        "per_model_second_build": per_model_second,
        "members": sizes,
        "history_rows": history_rows,
    }
