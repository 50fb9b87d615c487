"""A full refresh gives what a chain of incremental builds gives (issue #16): the demo world built in three
increments, its raw files cut by time as its systems would have exported them on earlier days, then the
same warehouse built again with `--full-refresh` (orchestration/build/increments.py)."""

from __future__ import annotations

from pathlib import Path

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq

from orchestration.build.increments import compare_published, run_increments, write_snapshot
from orchestration.identity.bench import bench_settings
from tests.worlds import SKIP_UNIT_TESTS


def _write(raw_dir: Path, name: str, rows: list[dict]) -> None:
    path = raw_dir / f"{name}.parquet"
    path.parent.mkdir(parents=True, exist_ok=True)
    pq.write_table(pa.Table.from_pylist(rows), path)


def test_a_snapshot_holds_what_was_dated_by_its_cut(tmp_path: Path) -> None:
    raw = tmp_path / "raw"
    _write(raw, "shop/orders", [
        {"order_id": 1, "created_at": "2026-01-01 10:00:00"},
        {"order_id": 2, "created_at": "2026-03-01 10:00:00"},
        {"order_id": 3, "created_at": "not a time"},
    ])  # fmt: skip
    _write(raw, "shop/order_items", [{"order_item_id": i, "order_id": i % 3 + 1} for i in range(6)])
    _write(raw, "pos/stores", [{"store_id": "s1"}, {"store_id": "s2"}])
    rows = write_snapshot(raw, tmp_path / "cut", "2026-02-01 00:00:00")
    # The later order and its lines wait; an order whose time does not parse is in every snapshot (staging
    # quarantines it); a reference table is whole.
    assert rows == {"pos/stores": 2, "shop/order_items": 4, "shop/orders": 2}
    orders = pq.read_table(tmp_path / "cut" / "shop" / "orders.parquet").column("order_id").to_pylist()
    assert sorted(orders) == [1, 3]
    assert write_snapshot(raw, tmp_path / "all", None) == {
        "pos/stores": 2,
        "shop/order_items": 6,
        "shop/orders": 3,
    }


def test_the_comparison_finds_a_changed_value_and_ignores_what_a_build_stamps(tmp_path: Path) -> None:
    files = []
    for name, value in (("a", "x"), ("b", "y")):
        path = tmp_path / f"{name}.duckdb"
        con = duckdb.connect(str(path))
        con.execute(f"create table customers as select 1 as id, '{value}' as trait, '{name}' as build_id")
        con.execute(f"create table orders as select 7 as id, '{name}' as build_id")
        con.close()
        files.append(path)
    [difference] = compare_published(*files)
    assert (difference.table, difference.columns, difference.only_in_chain) == ("customers", ["trait"], 1)
    assert not difference.by_design()


def test_the_demo_world_in_three_increments_equals_a_full_refresh(tmp_path: Path, monkeypatch) -> None:
    from orchestration.generate import generate

    for name, value in SKIP_UNIT_TESTS.items():
        monkeypatch.setenv(name, value)
    settings = bench_settings(tmp_path)
    generate(customers=60, seed=5, out=settings.data_dir)
    figures = run_increments(settings, [0.8, 0.9])

    assert [b["raw_rows"] for b in figures["builds"]] == sorted({b["raw_rows"] for b in figures["builds"]})
    # Every published table is the same, but for what a full refresh changes by design (retrained models,
    # history rows, what changed against the build before, person sources' load times): BY_DESIGN says why.
    assert figures["differing"] == []
    assert figures["tables"] > 90
    assert {"customers", "events", "customer_traits", "audience_memberships"}.isdisjoint(
        figures["differing_by_design"]
    )
    # The chain kept each event's first load: the last increment's own load holds only the events it brought.
    chain = duckdb.connect(str(settings.data_dir / "chain.duckdb"), read_only=True)
    try:
        loads, latest, total = chain.execute(
            "select count(distinct loaded_at), count(*) filter (where loaded_at = (select max(loaded_at) "
            "from events)), count(*) from events"
        ).fetchone()  # type: ignore[misc]
    finally:
        chain.close()
    assert loads >= 3 and 0 < latest < total / 4
