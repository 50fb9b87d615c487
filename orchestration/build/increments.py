"""The demo world in increments: does a chain of incremental builds give what a full refresh gives?

A generated world's raw files are cut by time into cumulative snapshots, as its systems would have
exported them on earlier days: each table keeps the rows dated up to a cut (its own time column; an order
line follows its order), and reference tables (stores, holidays, weather) and the declared person sources
are whole in every snapshot. Each snapshot is loaded and built in turn into one warehouse, incrementally;
then the same warehouse is built again with `--full-refresh`, and every published table is compared with
what the chain left, without the columns a build stamps on its own rows (BUILD_COLUMNS). What a full
refresh changes by design (retrained models, history rows, what the last build changed) is listed in
BY_DESIGN, each with its reason; any other difference is reported as one."""

from __future__ import annotations

import logging
import os
import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import duckdb

from orchestration.settings import Settings

log = logging.getLogger(__name__)

#: Each demo table's own time column (docs/raw_schema.md); text columns are read as timestamps where they
#: parse, and a row whose time does not parse (a planted malformed value) is in every snapshot.
TIME_COLUMNS: dict[str, str] = {
    "crm/contacts": "created_at",
    "shop/customers": "created_at",
    "shop/orders": "created_at",
    "events/identifies": "timestamp",
    "events/tracks": "timestamp",
    "events/pages": "timestamp",
    "pos/transactions": "transacted_at",
    "support/tickets": "created_at",
    "support/survey_responses": "responded_at",
    "esp/email_events": "occurred_at",
    "consent/consent_events": "occurred_at",
}
#: Tables whose rows follow a parent's: (parent, key).
FOLLOWS: dict[str, tuple[str, str]] = {"shop/order_items": ("shop/orders", "order_id")}

#: Columns a build stamps on the rows it places (its invocation, its clock): they differ between any two
#: builds by design.
BUILD_COLUMNS = frozenset({"build_id", "built_at", "computed_at", "changed_at", "measured_at"})

#: Where a full refresh differs from the chain by design, {table: (columns or "*" for any, why)}.
BY_DESIGN: dict[str, tuple[frozenset[str] | str, str]] = {
    # A full refresh retrains (orchestration/identity/matching.py, orchestration/predictions/kept.py).
    "identity_match_model_store": ("*", "a full refresh retrains the match model: one more version kept"),
    "int_identity__match_model": ("*", "retrained by the full refresh"),
    "int_identity__match_model_kept": ("*", "retrained by the full refresh"),
    "int_identity__match_candidates": (frozenset({"model_version"}), "scored by the retrained model"),
    "int_identity__match_compared": (frozenset({"model_version"}), "scored by the retrained model"),
    "int_identity__match_scored_features": (frozenset({"model_version"}), "scored by the retrained model"),
    "int_identity__match_record_changes": ("*", "every record is scored again by the retrained model"),
    "int_prediction_models": ("*", "retrained by the full refresh"),
    "int_prediction_model_kept": ("*", "retrained by the full refresh"),
    "model_metrics": ("*", "a row per model trained: the retrained ones are added"),
    # A row per build, kept across a full refresh.
    "audience_size_history": ("*", "a row per audience per build: the full refresh's are added"),
    # What the last build changed, against the build before it.
    "customer_id_map": (
        frozenset({"previous_customer_id", "assigned_at"}),
        "what the last build changed: the full refresh assigns every id again (the same ids)",
    ),
    "identity_match_link_state": (
        frozenset({"previous_match_probability", "was_edge", "status_changed_at"}),
        "each link against the build before: the full refresh's before is the chain's end",
    ),
}


@dataclass
class TableDifference:
    table: str
    rows_chain: int
    rows_full_refresh: int
    only_in_chain: int
    only_in_full_refresh: int
    columns: list[str] = field(default_factory=list)  # those that differ (all of them for a missing table)

    def by_design(self) -> bool:
        columns, _ = BY_DESIGN.get(self.table, (frozenset(), ""))
        return columns == "*" or bool(self.columns) and set(self.columns) <= set(columns)


def cut_times(raw_dir: Path, shares: list[float]) -> list[str]:
    """The times below which `shares` of the world's dated rows (over every table with a time column) fall."""
    con = duckdb.connect()
    try:
        unions = " union all ".join(
            f"select try_cast({column} as timestamp) as t from read_parquet('{raw_dir / name}.parquet')"
            for name, column in TIME_COLUMNS.items()
            if (raw_dir / f"{name}.parquet").exists()
        )
        quantiles = ", ".join(f"quantile_disc(t, {share})" for share in shares)
        row = con.execute(f"select {quantiles} from ({unions}) where t is not null").fetchone()
    finally:
        con.close()
    return [str(value) for value in row or []]


def write_snapshot(raw_dir: Path, out_dir: Path, cut: str | None) -> dict[str, int]:
    """The world's raw files as they were up to `cut` (all of them for None), into out_dir; rows per table."""
    con = duckdb.connect()
    rows: dict[str, int] = {}
    try:
        for path in sorted(raw_dir.glob("*/*.parquet")):
            name = f"{path.parent.name}/{path.stem}"
            target = out_dir / f"{name}.parquet"
            target.parent.mkdir(parents=True, exist_ok=True)
            where = "true"
            if cut is not None and name in TIME_COLUMNS:
                column = TIME_COLUMNS[name]
                where = f"coalesce(try_cast({column} as timestamp) <= timestamp '{cut}', true)"
            elif cut is not None and name in FOLLOWS:
                parent, key = FOLLOWS[name]
                parent_column = TIME_COLUMNS[parent]
                where = (
                    f"{key} in (select {key} from read_parquet('{raw_dir / parent}.parquet') where "
                    f"coalesce(try_cast({parent_column} as timestamp) <= timestamp '{cut}', true))"
                )
            con.execute(
                f"copy (select * from read_parquet('{path}') where {where}) to '{target}' (format parquet)"
            )
            rows[name] = con.execute(f"select count(*) from read_parquet('{target}')").fetchone()[0]  # type: ignore[index]
    finally:
        con.close()
    return rows


def published_tables(path: Path) -> dict[str, list[str]]:
    """{table: columns} of the published file's main schema (the marts, the identity and staging tables)."""
    con = duckdb.connect(str(path), read_only=True)
    try:
        listed = con.execute(
            "select table_name, list(column_name order by ordinal_position) from information_schema.columns "
            "where table_catalog = current_database() and table_schema = 'main' and table_name in ("
            "select table_name from information_schema.tables where table_catalog = current_database() "
            "and table_schema = 'main' and table_type = 'BASE TABLE') group by table_name"
        ).fetchall()
    finally:
        con.close()
    return {table: list(columns) for table, columns in listed}


def compare_published(chain: Path, full_refresh: Path) -> list[TableDifference]:
    """The tables of the two published files that differ, row for row (as multisets, without
    BUILD_COLUMNS), each with the columns whose values differ."""
    left, right = published_tables(chain), published_tables(full_refresh)
    con = duckdb.connect()
    con.execute(f"attach '{chain}' as chain (read_only)")
    con.execute(f"attach '{full_refresh}' as full_refresh (read_only)")
    differences = []
    try:
        for table in sorted(set(left) | set(right)):
            if table not in left or table not in right:
                differences.append(TableDifference(table, -1, -1, -1, -1, left.get(table) or right[table]))
                continue
            columns = [c for c in left[table] if c in right[table] and c not in BUILD_COLUMNS]
            a, b = f'chain.main."{table}"', f'full_refresh.main."{table}"'

            def only(listed: str, first: str = a, second: str = b) -> str:
                return f"(select count(*) from (select {listed} from {first} except all select {listed} from {second}))"

            everything = ", ".join(f'"{c}"' for c in columns)
            counts = con.execute(
                f"select (select count(*) from {a}), (select count(*) from {b}), {only(everything)}, "
                f"{only(everything, b, a)}"
            ).fetchone() or (0, 0, 0, 0)
            if counts[2] or counts[3]:
                differing = [
                    c
                    for c in columns
                    if con.execute(f"select {only(chr(34) + c + chr(34))}").fetchone() != (0,)
                ]
                rows_a, rows_b, only_a, only_b = counts
                differences.append(
                    TableDifference(table, rows_a, rows_b, only_a, only_b, differing or columns)
                )
    finally:
        con.close()
    return differences


def run_increments_benchmark(customers: int, seed: int, workdir: Path, shares: list[float]) -> dict[str, Any]:
    """`tessera bench increments`: a generated world of `customers`, in increments (run_increments)."""
    from orchestration.generate import generate
    from orchestration.identity.bench import bench_settings

    settings = bench_settings(workdir)
    generate(customers=customers, seed=seed, out=settings.data_dir)
    figures = {"customers": customers, "seed": seed, **run_increments(settings, shares)}
    figures["load_average"] = [round(x, 2) for x in os.getloadavg()]
    figures["cores"] = os.cpu_count()
    return figures


def run_increments(settings: Settings, shares: list[float]) -> dict[str, Any]:
    """Build settings' generated world (its raw folder) in len(shares) + 1 increments, then a full refresh
    of the same warehouse; compare. Leaves the full world in the raw folder."""
    from orchestration.build.pipeline import build

    world = settings.data_dir / "increments_world"
    shutil.rmtree(world, ignore_errors=True)
    shutil.copytree(settings.raw_dir, world)
    cuts: list[str | None] = [*cut_times(world, shares), None]
    builds = []
    for cut in cuts:
        shutil.rmtree(settings.raw_dir)
        rows = write_snapshot(world, settings.raw_dir, cut)
        started = time.monotonic()
        result = build(settings, reason="tessera bench increments")
        builds.append(
            {"cut": cut, "raw_rows": sum(rows.values()), "seconds": round(time.monotonic() - started, 1)}
        )
        log.info(
            "increment up to %s: %d raw rows, %.1f s",
            cut or "the end",
            sum(rows.values()),
            builds[-1]["seconds"],
        )
        if not result.published:
            raise RuntimeError(f"the increment up to {cut or 'the end'} was not published")
    chain = settings.data_dir / "chain.duckdb"
    shutil.copyfile(settings.published_db, chain)
    started = time.monotonic()
    build(settings, full_refresh=True, reason="tessera bench increments")
    refreshed = round(time.monotonic() - started, 1)
    differences = compare_published(chain, settings.published_db)
    return {
        "benchmark": "increments",
        "builds": builds,
        "full_refresh_seconds": refreshed,
        "tables": len(published_tables(chain)),
        "differing_by_design": {d.table: d.columns for d in differences if d.by_design()},
        "differing": [d.__dict__ for d in differences if not d.by_design()],
    }
