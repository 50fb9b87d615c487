"""The files destination: CSV, Parquet and JSON Lines, one file per batch, written atomically."""

from __future__ import annotations

import csv
import json
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq
import pytest

from orchestration.sync.destinations.base import Batch, DestinationContext, Record
from orchestration.sync.destinations.files import FilesSettings
from orchestration.sync.engine import run_sync
from tests.sync.conftest import Paths
from tests.sync.helpers import FakeClock, make_config, people, write_warehouse


def read(path: Path) -> list[dict[str, Any]]:
    if path.suffix == ".csv":
        with path.open() as handle:
            return list(csv.DictReader(handle))
    if path.suffix == ".jsonl":
        return [json.loads(line) for line in path.read_text().splitlines()]
    return pq.read_table(path).to_pylist()


@pytest.mark.parametrize("fmt", ["csv", "parquet", "jsonl"])
def test_each_batch_becomes_one_complete_file(fmt: str, paths: Paths, tmp_path: Path) -> None:
    out = tmp_path / "out"
    rows = people(5)
    write_warehouse(paths.warehouse, rows)
    destination = {"type": "files", "directory": str(out), "format": fmt, "batch_size": 2}
    config = make_config(
        destination,
        mapping={"email": "email", "score": "score"},
        mode="mirror",
        limits={"max_remove_share": 1},
    )
    result = run_sync(config, paths.warehouse, paths.state, clock=FakeClock())
    assert result.status == "success" and result.requests == 3
    files = sorted(out.iterdir())
    assert len(files) == 3 and all(f.suffix == f".{fmt}" for f in files)  # no temporary files left behind
    records = [record for f in files for record in read(f)]
    assert [r["_key"] for r in records] == [row["customer_id"] for row in rows]
    assert {r["_operation"] for r in records} == {"upsert"}
    assert str(records[3]["score"]) == "3"

    write_warehouse(paths.warehouse, rows[1:])
    removed = run_sync(config, paths.warehouse, paths.state, clock=FakeClock())
    newest = max(out.iterdir(), key=lambda f: f.stat().st_mtime_ns)
    assert removed.removes == 1 and read(newest)[0]["_operation"] == "delete"


def test_a_repeated_batch_overwrites_its_own_file(tmp_path: Path) -> None:
    settings = FilesSettings(type="files", directory=str(tmp_path), format="jsonl")
    destination = settings.build(DestinationContext("s", "upsert", {"email": "email"}, {}, FakeClock()))
    item = destination.prepare(Record("k1", "upsert", {"email": "a@example.com"}))
    batch = Batch("upsert", "run-000001", [item], "s")
    destination.send_batch(batch)
    destination.send_batch(batch)
    assert [p.name for p in tmp_path.iterdir()] == ["s__run-000001.jsonl"]
    assert read(tmp_path / "s__run-000001.jsonl") == [
        {"_key": "k1", "_operation": "upsert", "email": "a@example.com"}
    ]
