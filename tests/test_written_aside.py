"""orchestration/warehouse/files.py: a whole-file write replaces the old file in one rename, or not at all."""

from __future__ import annotations

import os
import stat

import pytest

from orchestration.warehouse.files import written_aside


def test_the_file_written_aside_replaces_the_old_one_whole(tmp_path):
    path = tmp_path / "deep" / "state.json"
    with written_aside(path) as aside:
        assert aside.parent == path.parent and aside.name.startswith(".") and aside.name.endswith(".partial")
        aside.write_text("first")
        assert not path.exists(), "nothing is in place before the block ends"
    assert path.read_text() == "first"
    with written_aside(path, durable=True) as aside:
        aside.write_text("second")
        assert path.read_text() == "first", "a reader sees the old file while the new one is written"
    assert path.read_text() == "second"
    assert sorted(p.name for p in path.parent.iterdir()) == ["state.json"]


def test_a_failed_write_leaves_the_old_file_and_nothing_beside_it(tmp_path):
    path = tmp_path / "decisions.parquet"
    path.write_text("kept")
    with pytest.raises(RuntimeError), written_aside(path) as aside:
        aside.write_text("half")
        raise RuntimeError("killed halfway")
    assert path.read_text() == "kept"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["decisions.parquet"]


def test_two_writes_of_one_file_from_one_process_do_not_share_the_name_aside(tmp_path):
    path = tmp_path / "seed.msgpack"
    with written_aside(path) as first, written_aside(path) as second:
        assert first != second
        first.write_text("a")
        second.write_text("b")
    assert path.read_text() == "a", "the outer block ends last, and its file is the one in place"


def test_the_new_file_keeps_the_permissions_of_the_call_that_wrote_it(tmp_path):
    path = tmp_path / "published_state.duckdb"
    mask = os.umask(0o022)
    try:
        with written_aside(path) as aside:
            aside.write_bytes(b"x")
    finally:
        os.umask(mask)
    assert stat.S_IMODE(path.stat().st_mode) == 0o644, "not tempfile's private 0600: analysts read it"


def test_what_a_killed_writer_left_aside_goes_with_the_next_write(tmp_path):
    import subprocess

    path = tmp_path / "ledger.duckdb"
    finished = subprocess.Popen(["true"])  # a process that has ended
    finished.wait()
    abandoned = tmp_path / f".ledger.duckdb.{finished.pid}.0badc0de.partial"
    abandoned.write_text("rows an erase has since removed")
    (tmp_path / f"{abandoned.name}.wal").write_text("its log")
    running = tmp_path / f".ledger.duckdb.{os.getpid()}.0ddba11.partial"
    running.write_text("a write of this process, still under way")
    other = tmp_path / f".ledger.duckdb.old.{finished.pid}.0badc0de.partial"
    other.write_text("another file's")
    with written_aside(path) as aside:
        aside.write_text("new")
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(["ledger.duckdb", running.name, other.name])
