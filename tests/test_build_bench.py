"""`tessera bench build`'s measuring parts on hand-made inputs: a child process's memory is seen, and
time and peaks are put on the right layers and models. The benchmark itself is run by hand (figures
come from benchmarks, never from tests)."""

from __future__ import annotations

import datetime as dt
import subprocess
import sys
import time

import pytest

from orchestration.build.bench import RssSampler, busy_seconds, cost_picture, layer_of, node_window

T0 = dt.datetime(2026, 12, 4, 12, 0, tzinfo=dt.UTC)
MANIFEST = {
    "nodes": {
        "model.tessera.stg_shop__orders": {
            "resource_type": "model",
            "fqn": ["tessera", "staging", "shop", "stg_shop__orders"],
        },
        "model.tessera.customers": {"resource_type": "model", "fqn": ["tessera", "identity", "customers"]},
        "model.tessera.top_level": {"resource_type": "model", "fqn": ["tessera", "top_level"]},
    }
}


def _result(uid: str, start: int, end: int, seconds: float) -> dict:
    stamp = lambda s: (T0 + dt.timedelta(seconds=s)).isoformat().replace("+00:00", "Z")  # noqa: E731
    return {
        "unique_id": uid,
        "execution_time": seconds,
        "timing": [
            {"name": "compile", "started_at": stamp(start), "completed_at": stamp(start)},
            {"name": "execute", "started_at": stamp(start), "completed_at": stamp(end)},
        ],
    }


def test_a_child_process_memory_is_sampled() -> None:
    """dbt runs as a subprocess: its memory, not only this process's, is what the sampler sees."""
    hold = "import time; b = bytearray(400 * 2**20); b[::4096] = b'x' * len(b[::4096]); time.sleep(2)"
    with RssSampler(interval=0.05) as sampler:
        before = sampler.samples[0][1] if sampler.samples else 0
        child = subprocess.Popen([sys.executable, "-c", hold])
        time.sleep(1.5)
        child.wait()
    assert sampler.peak() - before > 350 * 2**20, (before, sampler.peak())


def test_time_and_peaks_land_on_their_layers_and_models() -> None:
    sampler = RssSampler()
    sampler.samples = [
        (T0 + dt.timedelta(seconds=s), b * 2**30) for s, b in [(0, 1), (5, 3), (12, 2), (20, 1)]
    ]
    results = [
        _result("model.tessera.stg_shop__orders", 0, 6, 6.0),  # sees the 3 GB sample
        _result("model.tessera.customers", 10, 14, 4.0),  # 2 GB
        _result("test.tessera.not_null_customers_customer_id.abc", 15, 15, 0.5),  # no sample inside
        _result("model.tessera.top_level", 19, 21, 1.0),
    ]
    picture = cost_picture(results, MANIFEST, sampler, seconds=30.0)
    assert picture["wall_seconds"] == 30.0 and picture["dbt_node_seconds"] == 11.5
    # nodes ran in 0-6, 10-14, 15 and 19-21: 12 s; the other 18 s of the wall were outside every node
    assert (picture["nodes_busy_seconds"], picture["outside_nodes_seconds"]) == (12.0, 18.0)
    assert picture["peak_rss_gb"] == 3.0
    layers = picture["layers"]
    assert list(layers) == ["staging", "identity", "models", "tests"]  # by time spent
    assert layers["staging"] == {
        "nodes": 1,
        "node_seconds": 6.0,
        "peak_rss_gb": 3.0,
        "share": round(6 / 11.5, 3),
    }
    assert layers["identity"]["peak_rss_gb"] == 2.0
    assert layers["tests"]["peak_rss_gb"] == 2.0  # the nearest sample (12 s) to its instant (15 s)
    assert [m["model"] for m in picture["slowest_models"]] == ["stg_shop__orders", "customers", "top_level"]


def test_overlapping_windows_count_once() -> None:
    results = [
        _result("model.tessera.a", 0, 10, 10.0),
        _result("model.tessera.b", 2, 4, 2.0),  # inside a
        _result("model.tessera.c", 8, 12, 4.0),  # overlaps a's end
        _result("model.tessera.d", 20, 21, 1.0),
        {"unique_id": "model.tessera.never_ran", "timing": []},
    ]
    assert busy_seconds(results) == 13.0
    assert busy_seconds([]) == 0.0


def test_layers_and_windows() -> None:
    assert layer_of("seed.tessera.country_codes", MANIFEST) == "seeds"
    assert layer_of("unit_test.tessera.customers.x", MANIFEST) == "tests"
    assert layer_of("model.tessera.unknown", MANIFEST) == "models"
    start, end = node_window(_result("model.tessera.customers", 10, 14, 4.0))
    assert (end - start).total_seconds() == 14 - 10  # type: ignore[operator]
    assert node_window({"unique_id": "model.tessera.x", "timing": []}) == (None, None)


def test_the_staging_bench_points_each_path_at_its_presets_and_restores_the_environment(
    tmp_path, monkeypatch
) -> None:  # type: ignore[no-untyped-def]
    import os

    from orchestration.build.staging_bench import presets_file
    from orchestration.source_presets import PRESETS_FILE_ENV
    from orchestration.source_presets.config import load_presets
    from tests.worlds import world_settings

    monkeypatch.setenv(PRESETS_FILE_ENV, "before.yml")
    # The user's own data folder holds a demo's declarations: the contract path must not fall back to them.
    user_data = tmp_path / "user" / "data"
    user_data.mkdir(parents=True)
    (user_data / "presets.duckdb.yml").write_text(
        "sources:\n  events:\n    preset: snowplow\n    schema: atomic\n"
    )
    monkeypatch.setenv("TESSERA_DATA_DIR", str(user_data))
    monkeypatch.setenv("TESSERA_TARGET", "duckdb")
    world = world_settings(tmp_path / "bench")
    presets = tmp_path / "presets.yml"
    presets.write_text("sources:\n  events:\n    preset: segment\n    schema: segment\n")
    with presets_file(presets, world):
        assert load_presets().preset("events") == "segment"
    with presets_file(None, world):
        # the contract path: a file that declares nothing, whatever the developer's checkout declares
        assert load_presets().preset("events") == "demo"
    assert os.environ[PRESETS_FILE_ENV] == "before.yml" and os.environ["TESSERA_DATA_DIR"] == str(user_data)
    assert load_presets().preset("events") == "snowplow"  # the user's, after the bench
    monkeypatch.delenv(PRESETS_FILE_ENV)
    with presets_file(None, world):
        pass
    assert PRESETS_FILE_ENV not in os.environ


def test_a_benchmark_keeps_the_folder_it_is_given_and_removes_its_own(tmp_path):
    from orchestration.build.bench_options import bench_folder

    with bench_folder(tmp_path, "x") as folder:
        (folder / "kept").write_text("")
    assert (tmp_path / "kept").exists()
    with pytest.raises(RuntimeError), bench_folder(None, "x") as own:
        (own / "file").write_text("")
        raise RuntimeError("the benchmark failed")
    assert own.name.startswith("tessera-bench-x-") and not own.exists()
