"""Journeys (docs/journeys.md): the YAML's validation, the sync source kind, the journey state model
(its dbt unit test), the Dagster lineage and one run of a journey's sync step through the engine."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest
import yaml

from orchestration.journeys.config import (
    JourneyConfigError,
    JourneyContext,
    load_journeys,
    parse_journey,
    wait_minutes,
)
from orchestration.sync.config import JOURNEY_MODEL, parse_syncs
from orchestration.sync.errors import SyncConfigError

CONTEXT = JourneyContext(
    audiences=frozenset({"cart_abandoners_7d", "lapsed_high_value"}),
    traits={
        "last_order_at": "timestamp",
        "orders_count": "bigint",
        "favourite_category": "varchar",
        "first_order_date": "date",
    },
    syncs={"recovery_email": "cart_recovery", "plain_export": None},
)
GOOD = {
    "name": "cart_recovery",
    "entry": {"audience": "cart_abandoners_7d"},
    "steps": [
        {"wait": "1d"},
        {"condition": {"not_in_audience": "lapsed_high_value"}},
        {"condition": {"trait": "last_order_at", "op": "before_entry"}},
        {"condition": {"trait": "orders_count", "op": "<", "value": 3}},
        {"sync": "recovery_email"},
    ],
}


def _with(**changes: object) -> dict:
    return {**GOOD, **changes}


def _steps(*middle: dict) -> dict:
    return _with(steps=[*middle, {"sync": "recovery_email"}])


def test_a_good_journey_loads_and_becomes_the_dbt_var() -> None:
    journey = parse_journey(GOOD, file="journeys/cart_recovery.yml", context=CONTEXT)
    assert journey.sync == "recovery_email"
    assert journey.audiences == ["cart_abandoners_7d", "lapsed_high_value"]
    assert journey.dbt_var() == {
        "name": "cart_recovery",
        "entry_audience": "cart_abandoners_7d",
        "include_existing": False,
        "steps": [
            {"kind": "wait", "minutes": 1440},
            {"kind": "condition", "not_in_audience": "lapsed_high_value"},
            {"kind": "condition", "trait": "last_order_at", "op": "before_entry"},
            {"kind": "condition", "trait": "orders_count", "op": "<", "value": 3},
            {"kind": "sync", "sync": "recovery_email"},
        ],
    }
    assert [wait_minutes(w) for w in ("30m", "12h", "2d", "1w")] == [30, 720, 2880, 10080]


def test_timestamp_literals_and_include_existing_load() -> None:
    for literal in ("2026-01-31", "2026-01-31 08:00", "2026-01-31T08:00:00", "2026-01-31 08:00:00.25"):
        parse_journey(
            _steps({"condition": {"trait": "last_order_at", "op": ">", "value": literal}}),
            file="journeys/cart_recovery.yml",
            context=CONTEXT,
        )
    parse_journey(
        _steps({"condition": {"trait": "first_order_date", "op": "<", "value": "2026-02-28"}}),
        file="journeys/cart_recovery.yml",
        context=CONTEXT,
    )
    existing = parse_journey(
        _with(entry={"audience": "cart_abandoners_7d", "include_existing": True}),
        file="journeys/cart_recovery.yml",
        context=CONTEXT,
    )
    assert existing.dbt_var()["include_existing"] is True


@pytest.mark.parametrize(
    ("document", "expected"),
    [
        (
            _with(entry={"audience": "cart_abandoners_7dd"}),
            "entry.audience: unknown audience 'cart_abandoners_7dd'",
        ),
        (
            _steps({"condition": {"in_audience": "nope"}}),
            "steps[0].condition.in_audience: unknown audience 'nope'",
        ),
        (_with(steps=[{"sync": "nope"}]), "steps: unknown sync 'nope'"),
        (_with(steps=[{"sync": "plain_export"}]), "steps: sync 'plain_export' must read this journey"),
        (_steps({"wait": "1 day"}), "steps[0].wait: a wait is a whole number and a unit"),
        (_steps({"wait": "0d"}), "steps[0].wait: a wait is a whole number and a unit"),
        (_steps({"wait": "400d"}), "steps[0].wait: a wait is at most 366 days"),
        (
            _with(steps=[{"sync": "recovery_email"}, {"wait": "1d"}]),
            "steps: the last step, and only the last",
        ),
        (
            _steps({"wait": "1d", "sync": "recovery_email"}),
            "steps[0]: a step is exactly one of wait, condition or sync",
        ),
        (_steps({"pause": "1d"}), "steps[0]: a step is exactly one of"),
        (
            _steps({"condition": {"trait": "orders_count"}}),
            "steps[0].condition: a trait condition needs an op",
        ),
        (_steps({"condition": {"trait": "orders_count", "op": ">"}}), "op '>' needs a value"),
        (
            _steps({"condition": {"trait": "orders_count", "op": ">", "value": "3"}}),
            "compare it with a number",
        ),
        (_steps({"condition": {"trait": "orders_count", "op": "before_entry"}}), "needs a timestamp trait"),
        (_steps({"condition": {"trait": "no_such_trait", "op": "is_null"}}), "unknown trait 'no_such_trait'"),
        (
            _steps({"condition": {"trait": "x; drop table customers", "op": "is_null"}}),
            "should match pattern",
        ),
        (_steps({"condition": {"trait": "orders_count", "op": "like", "value": 1}}), "steps[0].condition.op"),
        (_steps({"condition": {"sql": "1 = 1"}}), "a condition is exactly one of"),
        (
            _steps({"condition": {"in_audience": "lapsed_high_value", "op": "="}}),
            "op and value belong to a trait",
        ),
        (_with(exit_on="purchase"), "exit_on: unknown key"),
        (
            _steps({"condition": {"trait": "last_order_at", "op": ">", "value": "2026-13-45"}}),
            "steps[0].condition: trait last_order_at is timestamp: '2026-13-45' is not a timestamp literal",
        ),
        (
            _steps({"condition": {"trait": "last_order_at", "op": "<", "value": "yesterday"}}),
            "steps[0].condition: trait last_order_at is timestamp: 'yesterday' is not a timestamp",
        ),
        (
            _steps({"condition": {"trait": "last_order_at", "op": "<", "value": "2026-01-31 08:00:00+02"}}),
            "is not a timestamp literal",
        ),
        (
            _steps({"condition": {"trait": "first_order_date", "op": ">=", "value": "2026-01-31 08:00"}}),
            "trait first_order_date is date: '2026-01-31 08:00' is not a date literal",
        ),
        (
            _with(entry={"audience": "cart_abandoners_7d", "include_existing": "yes"}),
            "entry.include_existing",
        ),
        (_with(entry={"audience": "cart_abandoners_7d", "include": True}), "entry.include: unknown key"),
        (_with(name="Cart-Recovery"), "name: String should match pattern"),
    ],
)
def test_a_wrong_journey_is_refused_in_one_line(document: dict, expected: str) -> None:
    with pytest.raises(JourneyConfigError) as error:
        parse_journey(document, file="journeys/j.yml", context=CONTEXT)
    message = str(error.value)
    assert message.startswith("journeys/j.yml: ") and "\n" not in message
    assert expected in message, message


def test_the_file_name_is_the_journey_name_and_a_sync_has_one_journey(tmp_path: Path) -> None:
    (tmp_path / "cart_recovery.yml").write_text(yaml.safe_dump(GOOD))
    assert [j.name for j in load_journeys(tmp_path, CONTEXT)] == ["cart_recovery"]
    (tmp_path / "other.yml").write_text(yaml.safe_dump(_with(name="other")))
    with pytest.raises(JourneyConfigError, match="other.yml: name: 'other'|already the sync step"):
        load_journeys(tmp_path, JourneyContext(audiences=CONTEXT.audiences, traits=CONTEXT.traits))
    (tmp_path / "other.yml").write_text(yaml.safe_dump(GOOD))
    with pytest.raises(
        JourneyConfigError, match=r"other.yml: name: 'cart_recovery' must match the file name"
    ):
        load_journeys(tmp_path, CONTEXT)


def test_the_shipped_journey_loads_against_the_project() -> None:
    from orchestration.audiences.definitions import dbt_vars
    from orchestration.journeys.project import project_journeys
    from orchestration.settings import Settings
    from orchestration.sync.project import project_syncs

    journeys = project_journeys(project_syncs(Settings.from_env()))
    assert [j.name for j in journeys] == ["cart_recovery"]
    assert dbt_vars()["journeys"] == [j.dbt_var() for j in journeys]


def _sync(source: dict) -> dict:
    return {
        "syncs": [
            {
                "name": "recovery_email",
                "source": source,
                "destination": {"type": "files", "directory": "out", "format": "csv"},
                "mode": "mirror",
                "mapping": {"customer_id": "customer_id", "email": "email"},
                "schedule": "@hourly",
                "consent_purpose": "email_marketing",
            }
        ]
    }


def test_a_journey_source_reads_the_ready_members_of_a_declared_journey(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TESSERA_JOURNEYS_DIR", str(tmp_path))
    (tmp_path / "cart_recovery.yml").write_text(yaml.safe_dump(GOOD))
    [sync] = parse_syncs(_sync({"journey": "cart_recovery"}), file="syncs.yml")
    assert (sync.source.model, sync.source.primary_key) == (JOURNEY_MODEL, "customer_id")
    assert sync.source.row_filter == ("journey_name", "cart_recovery")
    with pytest.raises(SyncConfigError, match=r"syncs\[0\].source.journey: unknown journey 'cart_recoveryy'"):
        parse_syncs(_sync({"journey": "cart_recoveryy"}), file="syncs.yml")
    with pytest.raises(SyncConfigError, match="give one of audience, priority_list or journey"):
        parse_syncs(_sync({"journey": "cart_recovery", "audience": "cart_abandoners_7d"}), file="syncs.yml")


def test_each_journey_is_an_asset_between_its_audiences_and_its_sync(dbt_manifest) -> None:
    """Lineage from the raw tables to the destination: entry audience → journey state → journey →
    the journey's activation model → its sync; the sensor rebuilds when a wait elapses."""
    from dagster import AssetKey

    from orchestration.definitions import defs

    definitions = defs()
    graph = definitions.resolve_asset_graph()

    def upstream(name: str) -> set[str]:
        return {key.to_user_string() for key in graph.get(AssetKey([name])).parent_keys}

    assert {
        "audience_cart_abandoners_7d",
        "audience_likely_churners_open_tickets",
        "journey_members",
    } <= upstream("journey_cart_recovery")
    assert {"audience_membership_history", "audience_memberships", "customer_traits"} <= upstream(
        "journey_members"
    )
    assert "journey_members" in upstream("sync_journey__members")
    assert {"journey_cart_recovery", "sync_journey__members"} <= upstream("sync_cart_recovery_email")
    assert "audience_cart_abandoners_7d" in {
        k.to_user_string() for k in graph.upstream_key_iterator(AssetKey(["sync_cart_recovery_email"]))
    } or _reaches(graph, "sync_cart_recovery_email", "audience_cart_abandoners_7d")
    assert definitions.resolve_sensor_def("journeys_waits_elapsed").job_name == "build_everything"


def _reaches(graph, start: str, target: str) -> bool:
    from dagster import AssetKey

    seen, todo = set(), [AssetKey([start])]
    while todo:
        key = todo.pop()
        if key.to_user_string() == target:
            return True
        if key not in seen:
            seen.add(key)
            todo.extend(graph.get(key).parent_keys)
    return False


# The journey the end-to-end test builds: no wait, so members are ready in the build that enters them.
E2E_JOURNEY = {
    "name": "cart_recovery",
    "entry_audience": "lapsed_high_value",  # a large audience in a small world
    "steps": [
        {"kind": "condition", "trait": "orders_count", "op": ">=", "value": 3},
        {"kind": "sync", "sync": "cart_recovery_email"},
    ],
}


@pytest.fixture(scope="module")
def journey_scratch(published, settings):
    """A scratch copy of the published world with the journey models rebuilt for E2E_JOURNEY."""
    from orchestration.build.pipeline import run_dbt
    from orchestration.warehouse.registry import get_warehouse

    with get_warehouse(settings).scratch() as scratch:
        results = run_dbt(
            scratch,
            [
                "build",
                "--select",
                "journey_members sync_journey__members",
                "--vars",
                json.dumps({"journeys": [E2E_JOURNEY]}),
            ],
        )
        failed = [r["unique_id"] for r in results["results"] if r["status"] not in ("success", "pass")]
        assert not failed, failed
        yield scratch


def test_the_journey_state_unit_test_passes(published, settings, dbt_manifest) -> None:
    """The dbt unit test beside journey_members (models/activation/_activation__models.yml): entry,
    wait not elapsed, condition held or failed, left the audience, holdout and global holdout. The
    session's main world ran it, with every other unit test: its first build (no earlier audit to leave
    them out by) records the code fingerprint in its audit only if every unit test of the manifest ran
    and passed (orchestration/build/unit_tests.py, verified_code)."""
    from dagster import DagsterInstance

    from orchestration.build.unit_tests import code_fingerprint
    from orchestration.warehouse.audit import Audit

    unit_tests = json.loads(dbt_manifest.read_text())["unit_tests"]
    assert "unit_test.tessera.journey_members.journey_members_steps_exits_and_holdouts" in unit_tests
    audit = Audit.read(settings.last_audit_path)
    assert audit is not None and audit.passed
    assert audit.unit_tests_code == code_fingerprint(settings), (
        "the published build's unit tests did not all pass"
    )
    # ... and ran in that build, not left out as passed before (the dbt asset says so in its log).
    with DagsterInstance.get() as instance:
        logged = [entry.user_message for entry in instance.all_logs(published.run_id)]
    assert not [m for m in logged if "dbt unit tests: left out" in m]
    assert any("audiences checked" in m for m in logged), "not the build's log"


def test_a_journeys_sync_step_sends_its_ready_members_only(journey_scratch, tmp_path: Path) -> None:
    import duckdb

    from orchestration.sync.engine import run_sync
    from orchestration.sync.project import project_syncs
    from orchestration.warehouse.interface import SyncLocation

    con = duckdb.connect(str(journey_scratch.build_db), read_only=True)
    try:
        statuses = dict(
            con.execute(
                "select status, count(*) from journey_members where journey_name = 'cart_recovery' group by 1"
            ).fetchall()
        )
        # Ready in the journey state (not read from the sync model), with the entry audience's consent.
        ready = {
            customer_id
            for (customer_id,) in con.execute(
                "select journey_members.customer_id from journey_members "
                "inner join sync_audience__members on journey_members.entry_audience_name = "
                "sync_audience__members.audience_name "
                "and journey_members.customer_id = sync_audience__members.customer_id "
                "where journey_members.journey_name = 'cart_recovery' and journey_members.is_ready "
                "and sync_audience__members.has_consent_email_marketing"
            ).fetchall()
        }
        held_out = {
            customer_id
            for (customer_id,) in con.execute(
                "select customer_id from journey_members where journey_name = 'cart_recovery' and status = 'held_out'"
            ).fetchall()
        }
        audience = con.execute(
            "select count(*) from audience_memberships where audience_name = 'lapsed_high_value'"
        ).fetchall()[0][0]
    finally:
        con.close()
    assert statuses.get("ready") and statuses.get("exited") and sum(statuses.values()) >= audience, statuses
    assert held_out, "the world has no held-out member of the entry audience"

    [config] = [c for c in project_syncs(journey_scratch) if c.name == "cart_recovery_email"]
    config = config.model_copy(
        update={"destination": config.destination.model_copy(update={"directory": str(tmp_path / "out")})}
    )
    location = SyncLocation(
        store="duckdb",
        published=str(journey_scratch.build_db),
        state=str(tmp_path / "state.duckdb"),
        history=str(tmp_path / "history.duckdb"),
    )
    result = run_sync(config, location)
    assert result.ok, result.error
    assert result.adds == len(ready) and result.holdout_excluded == 0
    [export] = list((tmp_path / "out").rglob("*.csv"))
    with export.open() as handle:
        sent = {row["customer_id"] for row in csv.DictReader(handle)}
    assert sent == ready and sent
    assert not sent & held_out
    assert run_sync(config, location).sent == 0


def test_the_journey_state_unit_test_passes_on_postgres(tmp_path: Path) -> None:
    """The same dbt unit test on Postgres: the model's SQL is portable. Unit tests need their inputs'
    relations only for the column types, so four empty tables stand in for the built upstream."""
    import os
    import subprocess
    import sys

    import psycopg2

    from orchestration.audiences.definitions import dbt_vars_args
    from orchestration.settings import PROJECT_DIR
    from tests.conftest import TEST_PG_DATABASE, require_postgres

    require_postgres()
    schema = "journeys_unit_test"
    con = psycopg2.connect(host="127.0.0.1", port=5432, user="postgres", dbname=TEST_PG_DATABASE)
    con.autocommit = True
    with con.cursor() as cur:
        cur.execute(f"drop schema if exists {schema} cascade")
        cur.execute(f"create schema {schema}")
        cur.execute(
            f"create table {schema}.audience_membership_history (audience_name varchar, customer_id varchar, "
            "change_kind varchar, build_id varchar, changed_at timestamp)"
        )
        cur.execute(
            f"create table {schema}.audience_memberships (audience_name varchar, customer_id varchar, "
            "is_holdout boolean, is_global_holdout boolean)"
        )
        cur.execute(
            f"create table {schema}.customer_traits (customer_id varchar, orders_count bigint, "
            "last_order_at timestamp)"
        )
        cur.execute(
            f"create table {schema}.journey_launches (journey_name varchar, launch_build_id varchar, "
            "launched_at timestamp)"
        )
    try:
        env = {
            **os.environ,
            "TESSERA_TARGET": "postgres",
            "TESSERA_PG_DATABASE": TEST_PG_DATABASE,
            "TESSERA_PG_BUILD_SCHEMA": schema,
            "DBT_SEND_ANONYMOUS_USAGE_STATS": "false",
        }
        target = tmp_path / "target"
        subprocess.run(
            [
                str(Path(sys.executable).parent / "dbt"),
                *dbt_vars_args(["test", "--select", "journey_members,test_type:unit"]),
                *("--project-dir", str(PROJECT_DIR), "--profiles-dir", str(PROJECT_DIR)),
                *("--target", "postgres", "--target-path", str(target), "--quiet"),
            ],
            env=env,
            check=False,
        )
        results = json.loads((target / "run_results.json").read_text())["results"]
        outcomes = {
            r["unique_id"].split(".")[-1]: r["status"] for r in results if r["unique_id"].startswith("unit")
        }
        assert outcomes == {"journey_members_steps_exits_and_holdouts": "pass"}, results
    finally:
        with con.cursor() as cur:
            cur.execute(f"drop schema if exists {schema} cascade")
        con.close()


def test_the_sensor_starts_a_build_when_a_published_wait_has_elapsed(settings, tmp_path: Path) -> None:
    import dataclasses

    import duckdb
    from dagster import RunRequest, build_sensor_context

    from orchestration.build.jobs import build_everything
    from orchestration.journeys.dagster import due_waits, journeys_wait_sensor

    published = tmp_path / "published.duckdb"
    scratch = dataclasses.replace(settings, published_db=published)
    sensor = journeys_wait_sensor(scratch, build_everything)
    assert isinstance(sensor.evaluate_tick(build_sensor_context()).skip_message, str)  # nothing published

    con = duckdb.connect(str(published))
    con.execute(
        "create table journey_members as select * from (values "
        "('a', 'waiting', timestamp '2026-01-02 00:00:00'), "  # its wait elapsed after the last build
        "('b', 'waiting', timestamp '2999-01-02 00:00:00'), "  # still waiting
        "('c', 'ready', timestamp '2026-01-02 00:00:00'), "  # already moved on
        "('d', 'exited', timestamp '2026-01-03 00:00:00')"
        ") as t(customer_id, status, wait_elapses_at)"
    )
    con.close()
    count, latest = due_waits(scratch)
    assert (count, str(latest)) == (1, "2026-01-02 00:00:00")
    [request] = sensor.evaluate_tick(build_sensor_context()).run_requests
    assert isinstance(request, RunRequest) and request.run_key.startswith(
        "journey-waits-2026-01-02 00:00:00-"
    )

    con = duckdb.connect(str(published))
    con.execute("update journey_members set wait_elapses_at = timestamp '2999-01-01 00:00:00'")
    con.close()
    assert due_waits(scratch)[0] == 0
    assert not sensor.evaluate_tick(build_sensor_context()).run_requests


def test_journeys_go_with_the_project_sync_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Another sync file (a test's, another project's) brings no journeys unless a journeys folder is
    named too; then that folder's journeys are checked against that file."""
    from orchestration.journeys.project import project_journeys
    from orchestration.settings import Settings
    from orchestration.sync.project import project_syncs

    other = tmp_path / "syncs.yml"
    other.write_text(yaml.safe_dump(_sync({"model": "sync_file__customers", "primary_key": "customer_id"})))
    monkeypatch.setenv("TESSERA_SYNCS_FILE", str(other))
    assert project_journeys(project_syncs(Settings.from_env())) == []
    monkeypatch.setenv("TESSERA_JOURNEYS_DIR", str(tmp_path))
    (tmp_path / "cart_recovery.yml").write_text(yaml.safe_dump(GOOD))
    with pytest.raises(JourneyConfigError, match="steps: sync 'recovery_email' must read this journey"):
        project_journeys(project_syncs(Settings.from_env()))


def _build_launches(env: dict[str, str], target: Path, journeys: list[str], *extra: str) -> None:
    """`dbt run` of journey_launches alone (it reads only the var), with these journeys declared."""
    import os
    import subprocess
    import sys

    from orchestration.audiences.definitions import dbt_vars_args
    from orchestration.settings import PROJECT_DIR

    declared = [{**E2E_JOURNEY, "name": name} for name in journeys]
    done = subprocess.run(
        [
            str(Path(sys.executable).parent / "dbt"),
            *dbt_vars_args(
                ["run", "--select", "journey_launches", *extra, "--vars", json.dumps({"journeys": declared})]
            ),
            *("--project-dir", str(PROJECT_DIR), "--profiles-dir", str(PROJECT_DIR)),
            *("--target", env["TESSERA_TARGET"], "--target-path", str(target), "--quiet"),
        ],
        env={**os.environ, **env, "DBT_SEND_ANONYMOUS_USAGE_STATS": "false"},
        check=False,
        capture_output=True,
        text=True,
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]


def test_a_journeys_launch_is_its_first_build_and_survives_later_builds(tmp_path: Path) -> None:
    """journey_launches keeps each journey's first build (incremental, full_refresh false): a later
    build, even a full refresh, adds a new journey's launch and never moves an old one. (DuckDB only:
    on an empty Postgres schema the project's on-run-end hook, the masked views, cannot run.)"""
    import duckdb

    env = {"TESSERA_TARGET": "duckdb", "TESSERA_BUILD_DB": str(tmp_path / "build.duckdb")}

    def launches() -> dict[str, object]:
        con = duckdb.connect(str(tmp_path / "build.duckdb"), read_only=True)
        try:
            return dict(con.execute("select journey_name, launched_at from journey_launches").fetchall())
        finally:
            con.close()

    _build_launches(env, tmp_path / "target", ["cart_recovery"])
    first = launches()
    assert list(first) == ["cart_recovery"]
    _build_launches(env, tmp_path / "target", ["cart_recovery", "winback"], "--full-refresh")
    second = launches()
    assert second["cart_recovery"] == first["cart_recovery"] and second["winback"] > first["cart_recovery"]
