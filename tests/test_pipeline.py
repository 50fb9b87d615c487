"""End to end on DuckDB: the Dagster job loads, stages, quarantines, tests and publishes."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import textwrap
import time

import duckdb
import phonenumbers
import pyarrow as pa
import pyarrow.parquet as pq

from orchestration.warehouse.load import raw_files


def _published(settings) -> duckdb.DuckDBPyConnection:
    return duckdb.connect(str(settings.published_db), read_only=True)


def test_every_raw_row_is_staged_or_quarantined(published, settings):
    con = _published(settings)
    for source, table, _path in raw_files(settings.raw_dir):
        raw = con.execute(f"select count(*) from raw_{source}.{table}").fetchone()[0]
        staged = con.execute(f"select count(*) from stg_{source}__{table}").fetchone()[0]
        quarantined = con.execute(
            "select count(*) from quarantined_rows where source_name = ? and table_name = ?", [source, table]
        ).fetchone()[0]
        assert raw > 0, f"{source}.{table} loaded no rows"
        assert raw == staged + quarantined, f"{source}.{table}: {raw} raw != {staged} staged + {quarantined}"


def test_quarantine_keeps_reason_and_row(published, settings):
    con = _published(settings)
    reasons = {
        r for (r,) in con.execute("select distinct quarantine_reason from quarantined_rows").fetchall()
    }
    assert "duplicate delivery" in reasons
    assert any("created_at" in r or "timestamp" in r for r in reasons), reasons
    raw_record = con.execute("select raw_record from quarantined_rows limit 1").fetchone()[0]
    assert isinstance(json.loads(raw_record), dict)
    summary_total = con.execute("select sum(row_count) from quarantine_summary").fetchone()[0]
    assert summary_total == con.execute("select count(*) from quarantined_rows").fetchone()[0]


def test_staged_events_are_deduplicated(published, settings):
    con = _published(settings)
    for table in ("identifies", "tracks", "pages"):
        raw_ids, distinct_ids = con.execute(
            f"select count(*), count(distinct id) from raw_events.{table} where id is not null"
        ).fetchone()
        assert raw_ids > distinct_ids, f"the generator planted no duplicate deliveries in {table}"
        staged, staged_distinct = con.execute(
            f"select count(*), count(distinct message_id) from stg_events__{table}"
        ).fetchone()
        assert staged == staged_distinct


def test_junk_identifiers_are_flagged_not_dropped(published, settings):
    con = _published(settings)
    junk = con.execute(
        "select count(*) from stg_crm__contacts where is_junk_email or is_junk_phone"
    ).fetchone()[0]
    assert junk > 0
    flagged_test_email = con.execute(
        "select bool_and(is_junk_email) from stg_shop__customers where email = 'test@test.com'"
    ).fetchone()[0]
    assert flagged_test_email in (True, None)


def test_phone_normalisation_agrees_with_phonenumbers(published, settings):
    """Where the phonenumbers library calls a number valid, our SQL E.164 must be the same."""
    con = _published(settings)
    rows = con.execute(
        "select phone_raw, country_code, phone from stg_crm__contacts where phone_raw is not null "
        "union all select phone_raw, country_code, phone from stg_shop__customers where phone_raw is not null"
    ).fetchall()
    compared = 0
    for raw, country, ours in rows:
        try:
            parsed = phonenumbers.parse(raw, country or "GB")
        except phonenumbers.NumberParseException:
            continue
        if not phonenumbers.is_valid_number(parsed):
            continue
        compared += 1
        expected = phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164)
        assert ours == expected, (raw, country, ours, expected)
    assert compared > 100


def test_dbt_tests_surface_as_passing_asset_checks(published):
    evaluations = published.get_asset_check_evaluations()
    assert len(evaluations) > 50
    failed = [e.asset_check_key for e in evaluations if not e.passed and e.severity.value == "ERROR"]
    assert not failed


def test_summary_reports_sources_staged_and_quarantined(published, settings):
    from orchestration.build.reporting import warehouse_summary

    report = warehouse_summary(settings)
    assert len(report["tables"]) == 16  # 15 raw tables + the demo trade-fair person source
    assert report["audit"]["passed"] is True and report["audit"]["tests_passed"] > 50
    assert sum(t["quarantined"] for t in report["tables"]) == sum(q["rows"] for q in report["quarantine"])


def test_the_build_checks_source_freshness_for_the_syncs(published, settings):
    """Every Dagster build runs `dbt source freshness` after loading, into the file the syncs' removal
    hold reads (orchestration/sync/holds.py): the loads just stamped every table, so all pass."""
    from orchestration.build.pipeline import is_empty_source
    from orchestration.sync.project import freshness_results

    assert freshness_results(settings) == settings.freshness_path
    results = json.loads(settings.freshness_path.read_text())["results"]
    statuses = {r["unique_id"].removeprefix("source.tessera."): r["status"] for r in results}
    assert statuses["crm.contacts"] == statuses["events.tracks"] == statuses["shop.orders"] == "pass"
    assert not [r["unique_id"] for r in results if r["status"] == "error" and not is_empty_source(r)]


def test_the_dagster_runs_dbt_commands_reuse_the_projects_parse(published):
    """The freshness check and the build of one Dagster run start from the parse the run's definitions were
    loaded from (the same profile, vars and environment): dbt parses only what changed, not the whole
    project. Each invocation logs which it did (orchestration/build/assets/dbt.py)."""
    from dagster import DagsterInstance

    with DagsterInstance.get() as instance:
        messages = [entry.user_message for entry in instance.all_logs(published.run_id)]
    assert not [m for m in messages if "parsed the whole project" in m]
    reused = [m for m in messages if "from the project's partial parse" in m]
    assert any(m.startswith("dbt source freshness:") for m in reused), reused
    assert any(m.startswith("dbt build:") for m in reused), reused


def test_a_stale_source_is_reported_by_name_and_an_empty_one_is_not(tmp_path, caplog):
    """A raw table last loaded weeks ago fails dbt's freshness check and is logged by name; an empty table
    (a source this company does not have) counts as empty, not stale."""
    from orchestration.build.pipeline import check_source_freshness
    from orchestration.warehouse.registry import get_warehouse
    from tests.worlds import crm_contact, world_settings, write_world

    settings = world_settings(tmp_path)
    write_world(settings.data_dir, {"crm.contacts": [crm_contact("1", "Ann", "Lee", "ann@example.com")]})
    warehouse = get_warehouse(settings)
    warehouse.prepare_build()
    warehouse.load_raw(settings.raw_dir)
    with duckdb.connect(str(settings.build_db)) as con:
        con.execute("update raw_crm.contacts set _loaded_at = _loaded_at - interval 30 day")
    with caplog.at_level("WARNING"):
        statuses = check_source_freshness(settings)
    assert statuses.get("error") == 1 and statuses.get("empty", 0) >= 10 and "pass" not in statuses
    assert "crm.contacts (error)" in caplog.text and "shop.orders" not in caplog.text


READER = textwrap.dedent(
    """
    import json, sys, time, duckdb, pathlib
    path, stop, out = sys.argv[1], pathlib.Path(sys.argv[2]), sys.argv[3]
    held = duckdb.connect(path, read_only=True)
    seen, errors = [], []
    while not stop.exists():
        try:
            seen.append(held.execute("select count(*) from stg_crm__contacts").fetchone()[0])
        except Exception as exc:
            errors.append(repr(exc))
        time.sleep(0.05)
    held.close()  # DuckDB shares one instance per path within a process: close it to see the new file
    fresh = duckdb.connect(path, read_only=True)
    after = fresh.execute("select count(*) from stg_crm__contacts").fetchone()[0]
    json.dump({"seen": sorted(set(seen)), "errors": errors, "after": after, "n": len(seen)}, open(out, "w"))
    """
)


def _copy_published(source, root):
    """A private copy of the session's published world (raw data, the published file and its audit, which
    tells the next build the dbt unit tests passed on this code, and the audiences' passed compiled check,
    whose stamp is per project files), so a test can change its raw files and rebuild it without touching
    what the other tests read."""
    from tests.worlds import world_settings

    world = world_settings(root)
    shutil.copytree(source.data_dir, world.data_dir)
    world.published_db.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(source.published_db, world.published_db)
    shutil.copyfile(source.last_audit_path, world.last_audit_path)
    checked = source.build_db.parent / "audience-check"
    if checked.exists():
        shutil.copytree(checked, world.build_db.parent / "audience-check")
    return world


def _run_job_on(world, monkeypatch, model: str):
    """The Dagster job a schedule runs, on `world`, materializing only `model`, what it reads and the
    publish step (Dagster's own asset selection, as "Materialize selected" in the UI)."""
    from dagster import AssetKey, AssetSelection, DagsterInstance

    from orchestration.definitions import defs

    # The Dagster definitions follow the environment (orchestration.definitions.defs).
    monkeypatch.setenv("TESSERA_DATA_DIR", str(world.data_dir))
    monkeypatch.setenv("TESSERA_WAREHOUSE", str(world.published_db))
    monkeypatch.setenv("TESSERA_BUILD_DB", str(world.build_db))
    definitions = defs()
    selection = (
        AssetSelection.assets(model).upstream() | AssetSelection.assets("published_warehouse")
    ).resolve(definitions.resolve_asset_graph())
    assert {AssetKey(model), AssetKey("published_warehouse")} <= selection
    with DagsterInstance.get() as instance:
        return definitions.resolve_job_def("build_everything").execute_in_process(
            instance=instance, raise_on_error=False, asset_selection=list(selection)
        )


def test_reader_holds_published_file_across_a_rebuild(
    published, dbt_manifest, settings, tmp_path, monkeypatch
):
    """An analyst's open read-only connection never gets a lock error and never sees a half-built state.
    On a private copy of the session's world, rebuilt by the Dagster job as far as the table the reader
    reads: the run succeeds on a world already published, and its publish step replaces the file."""
    world = _copy_published(settings, tmp_path / "world")
    stop, out = tmp_path / "stop", tmp_path / "reader.json"
    before = _published(world).execute("select count(*) from stg_crm__contacts").fetchone()[0]
    inode_before = world.published_db.stat().st_ino
    reader = subprocess.Popen([sys.executable, "-c", READER, str(world.published_db), str(stop), str(out)])
    time.sleep(1.0)
    # A different source file: the new build must have a different CRM row count.
    contacts = next(p for s, t, p in raw_files(world.raw_dir) if (s, t) == ("crm", "contacts"))
    table = pq.read_table(contacts)
    pq.write_table(table.slice(0, table.num_rows - 25), contacts)
    try:
        result = _run_job_on(world, monkeypatch, "stg_crm__contacts")
    finally:
        stop.touch()
        reader.wait(timeout=60)
    assert result.success, [e.message for e in result.all_events if e.is_failure]
    assert world.published_db.stat().st_ino != inode_before, "the publish step replaced the file"
    report = json.loads(out.read_text())
    assert report["errors"] == []
    assert report["n"] > 5
    assert report["seen"] == [before], "the held connection only ever sees the old snapshot"
    assert report["after"] < before, "a new connection sees the newly published state"


def test_failing_gate_blocks_publish(published, dbt_manifest, settings, tmp_path, monkeypatch):
    """A Dagster build whose gating test fails leaves the published file untouched and says why. The
    Dagster job on a private copy of the session's world, with a duplicated store, materializing only
    stg_pos__stores, what it reads and the publish step; tests/test_raw_contract.py runs the whole job
    (`tessera run`) into the same failing test on a new world."""
    world = _copy_published(settings, tmp_path / "world")
    stores = next(p for s, t, p in raw_files(world.raw_dir) if (s, t) == ("pos", "stores"))
    table = pq.read_table(stores)
    pq.write_table(pa.concat_tables([table, table.slice(0, 1)]), stores)
    inode_before = world.published_db.stat().st_ino
    result = _run_job_on(world, monkeypatch, "stg_pos__stores")
    assert not result.success
    messages = " ".join(
        e.step_failure_data.error.message
        for e in result.all_events
        if e.is_step_failure and e.step_failure_data
    )
    assert "nothing will be published" in messages
    assert "stg_pos__stores" in messages
    assert world.published_db.stat().st_ino == inode_before
    assert not any(e.step_key == "published_warehouse" and e.is_step_success for e in result.all_events)


def test_a_new_warehouse_folder_starts_from_the_first_parse_of_its_configuration(tmp_path, monkeypatch):
    """Two DuckDB warehouse folders of one configuration: the first dbt command of the second reuses the
    first's parse (dbt starts in the build folder, the profile names the file relative to it), and the
    seed is the first parse of that configuration."""
    from orchestration.build.pipeline import PARSE_SEEDS_ENV, _dbt
    from tests.worlds import world_settings

    seeds, logs = tmp_path / "seeds", tmp_path / "logs"
    monkeypatch.setenv(PARSE_SEEDS_ENV, str(seeds))
    monkeypatch.setenv("DBT_LOG_PATH", str(logs))
    first, second = world_settings(tmp_path / "first"), world_settings(tmp_path / "second")
    _dbt(first, ["parse"], output=False)
    assert [p.suffix for p in seeds.iterdir()] == [".msgpack"]
    (logs / "dbt.log").unlink()
    target = _dbt(second, ["parse"], output=False)
    log = (logs / "dbt.log").read_text()
    assert "Unable to do partial parsing" not in log, log[-3000:]
    assert "Partial parsing enabled" in log
    assert (target / "manifest.json").exists()
    assert not (second.build_db.parent / "logs").exists()  # dbt's log stays where it is told
