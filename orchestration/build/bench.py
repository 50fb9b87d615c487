"""`tessera bench build`: where a build's time and memory go, per layer and per model, for a first build
and for a rebuild after new data (issue #16's picture of cost), and optionally the same rebuild run
as the Dagster job a user runs.

Time per node is dbt's own (run_results' execution time). Memory is sampled: a thread reads the
resident memory of this process and every process it started (the dbt subprocess and its threads'
work: DuckDB and the Python models run inside it) from /proc every `SAMPLE_SECONDS`, and a node's
peak is the largest sample taken while it ran. With two threads dbt runs two nodes at a time, so a
node's peak is that of the whole build at those moments, an upper bound for the node itself; the
layer that needs the memory is the one whose nodes all show it."""

from __future__ import annotations

import datetime as dt
import json
import os
import shutil
import threading
import time
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Self

from orchestration.settings import Settings
from orchestration.warehouse.files import written_aside

SAMPLE_SECONDS = 0.25
PAGE_BYTES = os.sysconf("SC_PAGE_SIZE") if hasattr(os, "sysconf") else 4096
SLOWEST = 15


def _processes() -> dict[int, tuple[int, int]]:
    """pid -> (parent pid, resident pages), for every process /proc shows (Linux)."""
    found: dict[int, tuple[int, int]] = {}
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            with open(f"/proc/{entry.name}/stat") as stat:
                fields = stat.read().rpartition(")")[2].split()
            with open(f"/proc/{entry.name}/statm") as statm:
                resident = int(statm.read().split()[1])
        except (OSError, IndexError, ValueError):  # the process ended while we looked
            continue
        found[int(entry.name)] = (int(fields[1]), resident)
    return found


def tree_rss_bytes(root: int) -> int:
    """Resident memory of `root` and all its descendants."""
    processes = _processes()
    children: dict[int, list[int]] = defaultdict(list)
    for pid, (parent, _) in processes.items():
        children[parent].append(pid)
    total, todo = 0, [root]
    while todo:
        pid = todo.pop()
        if pid in processes:
            total += processes[pid][1]
        todo.extend(children.get(pid, ()))
    return total * PAGE_BYTES


@dataclass(kw_only=True)
class PeriodicSampler:
    """Calls `sample()` in a thread every `interval` seconds while open, and once more as it closes."""

    interval: float = SAMPLE_SECONDS
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None

    def sample(self) -> None:
        raise NotImplementedError

    def __enter__(self) -> Self:
        def run() -> None:
            while True:
                self.sample()
                if self._stop.wait(self.interval):
                    return

        self._thread = threading.Thread(target=run, name=type(self).__name__, daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
        self.sample()


@dataclass
class RssSampler(PeriodicSampler):
    """Samples `tree_rss_bytes(pid)` while open: (UTC time, bytes) pairs."""

    pid: int = field(default_factory=os.getpid)
    samples: list[tuple[dt.datetime, int]] = field(default_factory=list)

    def sample(self) -> None:
        self.samples.append((dt.datetime.now(dt.UTC), tree_rss_bytes(self.pid)))

    def peak(self, start: dt.datetime | None = None, end: dt.datetime | None = None) -> int:
        """The largest sample between `start` and `end` (the whole run without them); a window shorter
        than the sampling interval gets the sample nearest to it."""
        if not self.samples:
            return 0
        inside = [b for t, b in self.samples if (start is None or t >= start) and (end is None or t <= end)]
        if inside:
            return max(inside)
        middle = start + (end - start) / 2 if start is not None and end is not None else start or end
        return min(self.samples, key=lambda s: abs((s[0] - middle).total_seconds()))[1]  # type: ignore[operator]


def _instant(text: str | None) -> dt.datetime | None:
    if not text:
        return None
    moment = dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
    return moment if moment.tzinfo else moment.replace(tzinfo=dt.UTC)


def node_window(result: dict[str, Any]) -> tuple[dt.datetime | None, dt.datetime | None]:
    """When a run_results entry started (its first timing step) and finished (its last)."""
    steps = result.get("timing") or []
    starts = [s for s in (_instant(t.get("started_at")) for t in steps) if s]
    ends = [e for e in (_instant(t.get("completed_at")) for t in steps) if e]
    return (min(starts) if starts else None, max(ends) if ends else None)


def layer_of(unique_id: str, manifest: dict[str, Any]) -> str:
    """A node's layer: a model's or seed's Dagster asset group (TesseraTranslator: the folder under
    models/, staging, identity, marts, …); data and unit tests are `tests`, hooks `operations`."""
    from orchestration.build.assets.dbt import TesseraTranslator

    kind = unique_id.split(".")[0]
    if kind in ("test", "unit_test"):
        return "tests"
    if kind not in ("model", "seed"):
        return f"{kind}s"
    node = manifest.get("nodes", {}).get(unique_id) or {"resource_type": kind, "fqn": []}
    return str(TesseraTranslator().get_group_name(node))


def busy_seconds(results: list[dict[str, Any]]) -> float:
    """How long at least one node ran: the union of the nodes' windows. The rest of a build's wall time
    is spent outside every node (loading raw files, copying the published file, dbt's start and parse
    per command, hooks, the audit and publishing), and node_seconds over it is how many ran at once."""
    windows = sorted(
        (start, end) for start, end in (node_window(result) for result in results) if start and end
    )
    total, reach = 0.0, None
    for start, end in windows:
        if reach is None or start > reach:
            total += (end - start).total_seconds()
            reach = end
        elif end > reach:
            total += (end - reach).total_seconds()
            reach = end
    return total


def _gb(value: float) -> float:
    return round(value / 1024**3, 3)


def cost_picture(
    results: list[dict[str, Any]], manifest: dict[str, Any], sampler: RssSampler, seconds: float
) -> dict[str, Any]:
    """Time and peak memory per layer and for the slowest models of one build."""
    layers: dict[str, dict[str, Any]] = {}
    models: list[dict[str, Any]] = []
    for result in results:
        uid = str(result["unique_id"])
        layer = layer_of(uid, manifest)
        spent = float(result.get("execution_time") or 0.0)
        peak = sampler.peak(*node_window(result))
        entry = layers.setdefault(layer, {"nodes": 0, "node_seconds": 0.0, "peak_rss_gb": 0.0})
        entry["nodes"] += 1
        entry["node_seconds"] += spent
        entry["peak_rss_gb"] = max(entry["peak_rss_gb"], _gb(peak))
        if uid.startswith("model."):
            models.append({"model": uid.split(".")[-1], "layer": layer, "seconds": round(spent, 2),
                           "peak_rss_gb": _gb(peak)})  # fmt: skip
    node_seconds = sum(entry["node_seconds"] for entry in layers.values())
    for entry in layers.values():
        entry["share"] = round(entry["node_seconds"] / node_seconds, 3) if node_seconds else 0.0
        entry["node_seconds"] = round(entry["node_seconds"], 2)
    busy = busy_seconds(results)
    return {
        "wall_seconds": round(seconds, 2),
        "dbt_node_seconds": round(node_seconds, 2),
        "nodes_busy_seconds": round(busy, 2),
        "outside_nodes_seconds": round(max(seconds - busy, 0.0), 2),
        "peak_rss_gb": _gb(sampler.peak()),
        "layers": dict(sorted(layers.items(), key=lambda kv: -kv[1]["node_seconds"])),
        "slowest_models": sorted(models, key=lambda m: -m["seconds"])[:SLOWEST],
    }


def _manifest(settings: Settings) -> dict[str, Any]:
    path = settings.build_db.parent / f"dbt-target-{settings.target}" / "manifest.json"
    return json.loads(path.read_text()) if path.exists() else {}


def measured_build(settings: Settings) -> dict[str, Any]:
    """One build through the pipeline (`tessera bench`'s path), measured."""
    from orchestration.build.pipeline import build

    with RssSampler() as sampler:
        result = build(settings, reason="tessera bench build")
    return cost_picture(result.results, _manifest(settings), sampler, result.seconds)


def measured_dagster_build(settings: Settings, definitions_for: Callable[[Settings], Any]) -> dict[str, Any]:
    """The same build as the Dagster job of `definitions_for(settings)` (the assembled Definitions,
    orchestration/definitions.py, which no package imports), run as `tessera run` runs it (in process,
    events stored in a SQLite instance on disk, the console logger quiet, stdout to a file),
    measured as a whole: Dagster's part is its wall time over the pipeline's."""
    import contextlib

    from dagster import DagsterInstance

    from orchestration.build.pipeline import environment
    from orchestration.build.project import prepare_manifest

    home = settings.build_db.parent / "bench-dagster-home"
    home.mkdir(parents=True, exist_ok=True)
    # The project's instance settings (.dagster/dagster.yaml), as the
    # CLI's default DAGSTER_HOME gives `tessera run`, in a home of the bench's own.
    shutil.copy(settings.project_dir / ".dagster" / "dagster.yaml", home / "dagster.yaml")
    wanted = {
        "TESSERA_TARGET": settings.target,
        "TESSERA_DATA_DIR": str(settings.data_dir),
        "TESSERA_WAREHOUSE": str(settings.published_db),
        "TESSERA_BUILD_DB": str(settings.build_db),
        "DAGSTER_HOME": str(home),
    }
    quiet = {"loggers": {"console": {"config": {"log_level": "CRITICAL"}}}}
    with (
        environment(wanted),
        DagsterInstance.get() as instance,
        (settings.build_db.parent / "bench-dagster.log").open("w") as log,
        contextlib.redirect_stdout(log),
    ):
        prepare_manifest(settings)
        started = time.monotonic()
        with RssSampler() as sampler:
            run = (
                definitions_for(settings)
                .resolve_job_def("build_everything")
                .execute_in_process(instance=instance, raise_on_error=False, run_config=quiet)
            )
        seconds = time.monotonic() - started
    if not run.success:
        raise RuntimeError("the Dagster build failed: " + "; ".join(
            str(e.message) for e in run.all_events if e.is_failure)[:2000])  # fmt: skip
    return {"wall_seconds": round(seconds, 2), "peak_rss_gb": _gb(sampler.peak())}


def run_build_benchmark(
    customers: int,
    seed: int,
    workdir: Path,
    growth: float = 0.01,
    dagster: Callable[[Settings], Any] | None = None,
) -> dict[str, Any]:
    """A generated world of `customers`, less `growth` of its person records: a first build; then
    those records added and a rebuild (what a daily run does: the incremental layers take only what changed);
    with `dagster` (the Definitions' factory), the same rebuild again as the Dagster job."""
    from orchestration.generate import generate
    from orchestration.identity.bench import bench_settings, hold_back, restore

    settings = bench_settings(workdir)
    generate(customers=customers, seed=seed, out=settings.data_dir)
    full_dir = hold_back(settings.raw_dir, growth, seed)
    first = measured_build(settings)
    restore(settings.raw_dir, full_dir)
    rebuild = measured_build(settings)
    figures: dict[str, Any] = {
        "benchmark": "build",
        "customers": customers,
        "seed": seed,
        "growth": growth,
        "cores": os.cpu_count(),
        "first_build": first,
        "rebuild_after_growth": rebuild,
        "rebuild_over_first": round(rebuild["wall_seconds"] / first["wall_seconds"], 3),
    }
    if dagster is not None:
        through = measured_dagster_build(settings, dagster)
        figures["rebuild_through_dagster"] = through
        figures["dagster_over_pipeline"] = round(through["wall_seconds"] / rebuild["wall_seconds"], 3)
    figures["load_average"] = [round(x, 2) for x in os.getloadavg()]
    return figures


def land_track_call(raw_dir: Path, event_id: str) -> None:
    """A new delivery of the raw events: the track calls as before, and one more (a copy of the latest one,
    with its own message id, loaded now), written whole and then renamed into place, as a file drop lands."""
    import pyarrow as pa
    import pyarrow.compute as pc
    import pyarrow.parquet as pq

    path = raw_dir / "events" / "tracks.parquet"
    tracks = pq.read_table(path)
    now = dt.datetime.now(dt.UTC).replace(tzinfo=None)
    # The latest call of a known user that is not in the future (the generator plants timestamps out of
    # range, which staging quarantines).
    known = tracks.filter(pc.and_(pc.is_valid(tracks["user_id"]), pc.less_equal(tracks["timestamp"], now)))
    latest = known.sort_by([("timestamp", "descending")]).slice(0, 1)
    late = latest.set_column(latest.schema.get_field_index("id"), "id", pa.array([event_id]))
    loaded = late.schema.get_field_index("_loaded_at")
    late = late.set_column(loaded, "_loaded_at", pa.array([now], late.schema.field(loaded).type))
    with written_aside(path) as aside:
        pq.write_table(pa.concat_tables([tracks, late]), aside)


def run_landing_benchmark(
    customers: int, seed: int, workdir: Path, definitions_for: Callable[[Settings], Any]
) -> dict[str, Any]:
    """From a file landing to its event in the published `events`: a generated world built and published,
    then a new delivery of the track calls (one more event); the landing sensor's check, the Dagster job
    it asks for (the build the daemon would launch), and the event found in the published warehouse."""
    import uuid

    from orchestration.build.landing import LANDING_CHECK_SECONDS, landed_since_publish
    from orchestration.generate import generate
    from orchestration.identity.bench import bench_settings
    from orchestration.warehouse.registry import get_warehouse

    settings = bench_settings(workdir)
    generate(customers=customers, seed=seed, out=settings.data_dir)
    first = measured_build(settings)
    event_id = f"landing-bench-{uuid.uuid4()}"
    landed = time.monotonic()
    land_track_call(settings.raw_dir, event_id)
    checked = time.monotonic()
    changed, _ = landed_since_publish(settings)
    check_seconds = time.monotonic() - checked
    if changed != ["file:events/tracks"]:
        raise RuntimeError(f"the landing check found {changed}, not the new events file")
    through = measured_dagster_build(settings, definitions_for)
    found = get_warehouse(settings).query_published(
        f"select count(*) from events where event_id = '{event_id}'"
    )
    published = time.monotonic() - landed
    if found[0][0] != 1:
        raise RuntimeError("the landed event is not in the published events")
    return {
        "benchmark": "landing",
        "customers": customers,
        "seed": seed,
        "cores": os.cpu_count(),
        "first_build_seconds": first["wall_seconds"],
        "landing_check_seconds": round(check_seconds, 3),
        "dagster_build_seconds": through["wall_seconds"],
        "dagster_build_peak_rss_gb": through["peak_rss_gb"],
        "landing_to_published_seconds": round(published, 2),
        # The daemon evaluates the sensor every LANDING_CHECK_SECONDS: a delivery waits up to that long
        # before its run is requested, on top of the figure above.
        "sensor_interval_seconds": LANDING_CHECK_SECONDS,
        "load_average": [round(x, 2) for x in os.getloadavg()],
    }
