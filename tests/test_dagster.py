"""The Dagster definitions: asset graph, checks, schedule and landing sensor, one writer at a time, and the web UI."""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import yaml
from dagster import AssetKey

from orchestration.settings import PROJECT_DIR


def test_asset_graph_runs_from_raw_to_published(dbt_manifest):
    from orchestration.definitions import defs

    graph = defs().resolve_asset_graph()
    keys = set(graph.get_all_asset_keys())
    assert AssetKey(["crm", "contacts"]) in keys
    assert AssetKey(["stg_crm__contacts"]) in keys
    assert AssetKey(["published_warehouse"]) in keys
    # Lineage: raw file → staging model → … → published.
    assert AssetKey(["crm", "contacts"]) in graph.get(AssetKey(["base_crm__contacts"])).parent_keys
    assert AssetKey(["quarantined_rows"]) in graph.get(AssetKey(["published_warehouse"])).parent_keys


def test_dbt_tests_are_asset_checks(dbt_manifest):
    from orchestration.definitions import defs

    checks = defs().resolve_asset_graph().asset_check_keys
    assert any(c.asset_key == AssetKey(["stg_crm__contacts"]) and "unique" in c.name for c in checks)


def test_nightly_schedule_runs_everything(dbt_manifest):
    from orchestration.definitions import defs

    schedule = defs().resolve_schedule_def("nightly_build")
    assert schedule.cron_schedule == "0 2 * * *"
    assert schedule.job_name == "build_everything"
    # and new data starts it between nights (tests/test_landing.py)
    landing = defs().resolve_sensor_def("build_when_data_lands")
    assert landing.job_name == "build_everything" and landing.default_status.value == "RUNNING"


def test_warehouse_writers_run_one_at_a_time(dbt_manifest):
    from orchestration.build.jobs import WRITER_TAG
    from orchestration.definitions import defs

    job = defs().resolve_job_def("build_everything")
    assert WRITER_TAG in job.tags
    config = yaml.safe_load((PROJECT_DIR / ".dagster" / "dagster.yaml").read_text())
    limits = config["run_queue"]["tag_concurrency_limits"]
    assert {"key": WRITER_TAG, "limit": 1} in limits


def test_each_sync_schedule_runs_that_sync_alone_one_state_user_at_a_time(dbt_manifest, settings):
    """The `schedule:` of every sync in syncs/syncs.yml is a running Dagster schedule of a job that
    materialises that sync's asset only, queued behind other users of the sync state."""
    from dagster import AssetKey, DefaultScheduleStatus

    from orchestration.definitions import defs
    from orchestration.sync.project import project_syncs
    from orchestration.sync.schedules import SYNC_STATE_TAG

    definitions = defs()
    configs = project_syncs(settings)
    assert configs
    for config in configs:
        schedule = definitions.resolve_schedule_def(f"sync_{config.name}_schedule")
        assert schedule.cron_schedule == config.schedule
        assert schedule.default_status == DefaultScheduleStatus.RUNNING
        job = definitions.resolve_job_def(schedule.job_name)
        assert job.asset_layer.executable_asset_keys == {AssetKey([f"sync_{config.name}"])}
        assert SYNC_STATE_TAG in job.tags
    assert SYNC_STATE_TAG in definitions.resolve_job_def("run_syncs").tags
    config = yaml.safe_load((PROJECT_DIR / ".dagster" / "dagster.yaml").read_text())
    assert {"key": SYNC_STATE_TAG, "limit": 1} in config["run_queue"]["tag_concurrency_limits"]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


_LOCATION_QUERY = """{ workspaceOrError { ... on Workspace { locationEntries {
  locationOrLoadError { __typename ... on PythonError { message } } } } } }"""


def _graphql(port: int, query: str) -> dict:
    request = urllib.request.Request(
        f"http://127.0.0.1:{port}/graphql",
        data=json.dumps({"query": query}).encode(),
        headers={"Content-Type": "application/json"},
    )
    return json.load(urllib.request.urlopen(request, timeout=30))["data"]


def test_web_ui_serves_the_asset_graph(tmp_path):
    """Start the Dagster UI the way `tessera dev` does (`dagster dev`, which re-parses the project on
    every code load) and ask it for the asset graph. The server parses the project into its own target
    folder: the test needs no parse of the project's (dbt_manifest), so it runs on any pytest-xdist
    worker."""
    port = _free_port()
    # Its own target folder: the server parses the project itself, and other tests' manifest stays put.
    # Its own empty world too: the daemon's sensor that builds when raw data lands finds nothing to build
    # (the worker's session folder may hold generated files that no build published).
    env = {
        **os.environ,
        "DAGSTER_HOME": str(tmp_path),
        "DBT_TARGET_PATH": str(tmp_path / "target"),
        "TESSERA_DATA_DIR": str(tmp_path / "data"),
        "TESSERA_WAREHOUSE": str(tmp_path / "warehouse" / "tessera.duckdb"),
        "TESSERA_BUILD_DB": str(tmp_path / "warehouse" / "build" / "tessera.duckdb"),
    }
    # The project's instance settings, which `tessera dev` gets from .dagster/.
    shutil.copy(PROJECT_DIR / ".dagster" / "dagster.yaml", tmp_path / "dagster.yaml")
    log = tmp_path / "dagster-dev.log"
    server = subprocess.Popen(
        [
            str(Path(sys.executable).parent / "dagster"),
            "dev",
            "-m",
            "orchestration.definitions",
            "-h",
            "127.0.0.1",
            "-p",
            str(port),
        ],
        cwd=PROJECT_DIR,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=log.open("w"),
        start_new_session=True,
    )
    try:
        deadline = time.monotonic() + 180
        while True:
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{port}/server_info", timeout=2)
                break
            except OSError:
                assert server.poll() is None, log.read_text()[-3000:]
                assert time.monotonic() < deadline, "dagster dev did not start"
                time.sleep(1)
        # The code location loads after the server answers; a location that failed to load is an error.
        while True:
            location = _graphql(port, _LOCATION_QUERY)["workspaceOrError"]["locationEntries"][0]
            loaded = location["locationOrLoadError"]
            if loaded is not None:
                assert loaded["__typename"] == "RepositoryLocation", loaded.get("message", "")[-3000:]
                break
            assert time.monotonic() < deadline, "the code location did not load"
            time.sleep(1)
        nodes = _graphql(port, "{ assetNodes { assetKey { path } } }")["assetNodes"]
        paths = {tuple(n["assetKey"]["path"]) for n in nodes}
        assert ("stg_crm__contacts",) in paths
        assert ("published_warehouse",) in paths
        # The event log answers (nothing is materialized in this fresh home).
        asset = _graphql(
            port,
            '{ assetOrError(assetKey: {path: ["customers"]}) '
            "{ __typename ... on Asset { assetMaterializations(limit: 1) { runId } } } }",
        )["assetOrError"]
        assert asset == {"__typename": "Asset", "assetMaterializations": []}, asset
        page = urllib.request.urlopen(f"http://127.0.0.1:{port}/asset-groups", timeout=10).read().decode()
        assert ">Dagster</title>" in page
    finally:
        # What is tested is above, and the server's state is a temporary DAGSTER_HOME: its whole
        # process group (webserver, daemon, code server) is killed at once. A graceful stop (SIGINT)
        # took over 30 s on a loaded 2-core machine, up to two minutes of CI.
        os.killpg(server.pid, signal.SIGKILL)
        server.wait(timeout=30)


def test_a_build_outside_a_dagster_run_is_reported_as_materializations(settings, tmp_path, monkeypatch):
    """Erasure, retention and benchmark rebuilds show in Dagster: each model built is a materialization
    of its asset saying what asked for it; a failed model is not."""
    from dagster import AssetKey, DagsterInstance

    from orchestration.build.dagster_events import report_materializations

    (tmp_path / "dagster.yaml").write_text("")
    monkeypatch.setenv("DAGSTER_HOME", str(tmp_path))
    results = [
        {"unique_id": "model.tessera.customers", "status": "success", "execution_time": 1.5},
        {"unique_id": "test.tessera.unique_customers_customer_id", "status": "pass"},
        {"unique_id": "model.tessera.orders", "status": "error"},
    ]
    assert report_materializations(settings, results, reason="a privacy request") == 1
    with DagsterInstance.get() as instance:
        event = instance.get_latest_materialization_event(AssetKey(["customers"]))
        assert event is not None and event.asset_materialization is not None
        assert (
            event.asset_materialization.description == "rebuilt outside a Dagster run, by a privacy request"
        )
        assert instance.get_latest_materialization_event(AssetKey(["orders"])) is None
    monkeypatch.delenv("DAGSTER_HOME")
    assert report_materializations(settings, results, reason="a test") == 0


def test_dagster_dbt_learns_the_dbt_version_without_starting_dbt(monkeypatch):
    """dagster-dbt would start `dbt --version` (a whole dbt start-up) in every run and every parse, and
    a dbt adapter in this process before every invocation; TesseraDbtCli states the installed
    dbt-core's version and opens no adapter. If dagster-dbt renames either, the override would
    silently stop applying: the first assertions catch that."""
    import functools
    import importlib.metadata

    from dagster_dbt import DbtCliResource
    from packaging.version import Version

    from orchestration.build import project

    assert isinstance(vars(DbtCliResource).get("_cli_version"), functools.cached_property)
    assert callable(vars(DbtCliResource).get("_initialize_dbt_core_adapter"))

    def no_subprocess(*args, **kwargs):
        raise AssertionError(f"dbt was started: {args}")

    monkeypatch.setattr("dagster_dbt.core.resource.check_output", no_subprocess)
    dbt = os.fspath(Path(sys.executable).parent / "dbt")
    resource = project.TesseraDbtCli(project_dir=os.fspath(PROJECT_DIR), dbt_executable=dbt)
    assert resource._cli_version == Version(importlib.metadata.version("dbt-core"))
    assert resource._initialize_dbt_core_adapter(["build"]) is None  # no dbt adapter in this process
    # without the override, dagster-dbt's own resource starts dbt
    try:
        DbtCliResource(project_dir=os.fspath(PROJECT_DIR), dbt_executable=dbt)._cli_version  # noqa: B018
    except AssertionError as exc:
        assert "--version" in str(exc)
    else:
        raise AssertionError("DbtCliResource did not start dbt --version")


def test_a_target_folder_without_a_parse_starts_from_the_projects(tmp_path, monkeypatch):
    """A world's first dbt command (the freshness check in a Dagster run) reuses the parse `tessera
    run` just wrote; a folder with a parse of its own keeps it."""
    from orchestration.build import pipeline

    project = tmp_path / "project"
    (project / "target").mkdir(parents=True)
    (project / "target" / "partial_parse.msgpack").write_bytes(b"project")
    monkeypatch.setattr(pipeline, "PROJECT_DIR", project)
    monkeypatch.delenv("DBT_TARGET_PATH", raising=False)
    fresh, parsed = tmp_path / "fresh", tmp_path / "parsed"
    parsed.mkdir()
    (parsed / "partial_parse.msgpack").write_bytes(b"its own")
    pipeline.seed_partial_parse(fresh)
    pipeline.seed_partial_parse(parsed)
    assert (fresh / "partial_parse.msgpack").read_bytes() == b"project"
    assert (parsed / "partial_parse.msgpack").read_bytes() == b"its own"


def test_a_full_dbt_parse_is_told_with_dbts_reason(tmp_path):
    """The Dagster build logs why an invocation parsed the whole project, from dbt's log in either format
    (text; JSON lines, as dagster-dbt asks for), rotated or not; an invocation that reused its partial
    parse has no reason."""
    from orchestration.build.project import full_parse_reasons

    text, as_json, reused = tmp_path / "text", tmp_path / "json", tmp_path / "reused"
    for folder in (text, as_json, reused):
        folder.mkdir()
    (text / "dbt.log").write_text(
        "01:15:30  Running with dbt=1.11.16\n01:15:38  Unable to do partial parsing because profile has changed\n"
    )
    message = "Unable to do partial parsing because saved manifest not found. Starting full parse."
    (as_json / "dbt.log.1").write_text(json.dumps({"info": {"level": "info", "msg": message}}) + "\n")
    (as_json / "dbt.log").write_text(json.dumps({"info": {"msg": "Completed successfully"}}) + "\n")
    (reused / "dbt.log").write_text(
        "Partial parsing enabled: 0 files deleted, 0 files added, 5 files changed.\n"
    )
    assert full_parse_reasons(text) == ["profile has changed"]
    assert full_parse_reasons(as_json) == ["saved manifest not found. Starting full parse."]
    assert full_parse_reasons(reused) == []
    assert full_parse_reasons(tmp_path / "no log") == []


def test_the_sandbox_invocation_starts_from_its_own_kept_parse(tmp_path):
    """The audience sandbox's dbt invocation (another profiles.yml target) gets a new target folder that
    starts from that target's partial parse kept by the last build, not from the project's (made for the
    main target: dbt would parse the whole project again); the folder is removed after, and its parse is
    kept only when the invocation wrote one. Measured through Dagster on Postgres: the sandbox's
    invocation took 23.0 s with a whole parse, 8.6 s in the next build."""
    from types import SimpleNamespace

    from orchestration.build.project import target_folder_keeping_parse

    project = SimpleNamespace(project_dir=tmp_path, target_path=Path("target"))
    kept = tmp_path / "target" / "partial_parse.sandbox.msgpack"
    with target_folder_keeping_parse(project, "sandbox") as first:  # type: ignore[arg-type]
        assert first.parent == tmp_path / "target" and not any(first.iterdir())
        (first / "partial_parse.msgpack").write_bytes(b"parsed once")
    assert not first.exists() and kept.read_bytes() == b"parsed once"
    try:
        with target_folder_keeping_parse(project, "sandbox") as second:  # type: ignore[arg-type]
            assert second != first
            assert (second / "partial_parse.msgpack").read_bytes() == b"parsed once"
            (second / "partial_parse.msgpack").write_bytes(b"half written")
            raise RuntimeError("dbt was killed")
    except RuntimeError:
        pass
    assert not second.exists() and kept.read_bytes() == b"parsed once"
    with target_folder_keeping_parse(project, "sandbox") as third:  # type: ignore[arg-type]
        (third / "partial_parse.msgpack").unlink()  # an invocation that failed before parsing
    assert kept.read_bytes() == b"parsed once"
