"""The Python steps between dbt invocations (Postgres): the build phases, and the tables the steps read and write."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import pyarrow as pa
import pytest

from orchestration.build.outside_dbt import dbt_build_phases, outside_steps
from orchestration.identity.external import match_outside_dbt, matching_vars
from orchestration.warehouse.postgres import PostgresWarehouse
from tests.conftest import require_postgres
from tests.worlds import world_settings


def _phase_members(manifest: dict, phases: list[list[str]]) -> tuple[dict[str, int], dict[str, str]]:
    runnable = {**manifest["nodes"], **manifest["unit_tests"]}
    names = {uid: node["name"] for uid, node in runnable.items() if node["resource_type"] != "analysis"}
    phase_of: dict[str, int] = {}
    for index, (flag, value) in enumerate(phases):
        assert flag == "--exclude"
        excluded = set(value.split(" "))
        for uid, name in names.items():
            if name not in excluded:
                assert uid not in phase_of, f"{uid} is in phases {phase_of[uid]} and {index}"
                phase_of[uid] = index
    return phase_of, names


def test_phases_split_the_project_around_the_steps_in_dependency_order(dbt_manifest, tmp_path):
    """Every node builds in exactly one phase, never before a node it reads; the identity step runs
    after the match features and before anything that reads its models, scoring after the snapshots."""
    manifest = json.loads(Path(dbt_manifest).read_text())
    pg = world_settings(tmp_path, target="postgres")
    assert [step.name for step in outside_steps(pg)] == ["identity matching", "predictions scoring"]
    phases = dbt_build_phases(pg, manifest)
    assert len(phases) == 3
    phase_of, names = _phase_members(manifest, phases)
    assert set(phase_of) == set(names)
    for uid, phase in phase_of.items():
        for parent in manifest["parent_map"].get(uid, []):
            if parent in phase_of:
                assert phase_of[parent] <= phase, (
                    f"{uid} (phase {phase}) reads {parent} (phase {phase_of[parent]})"
                )
    where = {names[uid]: phase for uid, phase in phase_of.items() if uid.startswith("model.")}
    assert where["int_identity__match_features"] == 0 and where["int_identity__nodes"] == 0
    assert where["int_identity__match_model"] == where["int_identity__match_compared"] == 1
    assert where["int_identity__match_candidates"] == where["int_identity__match_pairs"] == 1
    # Read by name from the previous build's snapshot: built before the matching step reads it.
    assert where["int_identity__match_record_changes"] == 0
    assert (
        where["int_identity__edges"] == where["customers"] == where["int_customer_features_snapshotted"] == 1
    )
    assert where["int_customer_features_scored"] == where["customer_predictions"] == 2
    assert where["int_prediction_models"] == where["prediction_model_store"] == 2
    # Read by name from the previous build's store: built before the scoring step reads it.
    assert where["int_prediction_model_kept"] == 0
    # Without a manifest (the pipeline): dbt's own selectors, in the same order.
    assert dbt_build_phases(pg) == [
        [
            "--exclude",
            "int_identity__match_model+",
            "int_identity__match_compared+",
            "int_prediction_models+",
            "int_customer_features_scored+",
        ],
        [
            "--select",
            "int_identity__match_model+",
            "int_identity__match_compared+",
            "--exclude",
            "int_prediction_models+",
            "int_customer_features_scored+",
        ],
        ["--select", "int_prediction_models+", "int_customer_features_scored+"],
    ]
    assert dbt_build_phases(world_settings(tmp_path)) == [[]]


def test_a_build_outside_dagster_names_each_phases_nodes_narrowed_and_held_back(dbt_manifest, tmp_path):
    """Outside Dagster each invocation selects exactly its phase's nodes by name (dbt matches every
    term against every node, and a phase's complement is most of the project): the same phases as the
    exclusions above, less what is held back, narrowed to a selection; a phase left empty runs no dbt."""
    from orchestration.build.pipeline import phase_selections

    manifest = json.loads(Path(dbt_manifest).read_text())
    pg = world_settings(tmp_path, target="postgres")
    phase_of, names = _phase_members(manifest, dbt_build_phases(pg, manifest))
    by_phase = [{names[uid] for uid, phase in phase_of.items() if phase == i} for i in range(3)]
    held = {"customers", "not_null_customers_customer_id", "customer_predictions"}

    def selected(selection: list[str] | None) -> set[str]:
        assert selection is not None
        flag, value, *rest = selection
        assert flag == "--select" and rest == ["--indirect-selection", "empty"]
        return set(value.split(" "))

    whole = phase_selections(pg, manifest, hold_back=held)
    assert [selected(s) for s in whole] == [members - held for members in by_phase]
    narrowed = phase_selections(
        pg, manifest, selected={"stg_crm__contacts", "customers", "int_customer_features_scored"}
    )
    assert [selected(narrowed[0]), selected(narrowed[1]), selected(narrowed[2])] == [
        {"stg_crm__contacts"},
        {"customers"},
        {"int_customer_features_scored"},
    ]
    assert phase_selections(pg, manifest, selected={"stg_crm__contacts"})[1:] == [None, None]


def test_matching_vars_are_read_and_checked(tmp_path):
    assert matching_vars().min_records == 500 and matching_vars().review_threshold == 0.8
    bad = tmp_path / "dbt_project.yml"
    bad.write_text("vars: {identity_match_min_records: 500, identity_match_review_threshold: 1.5}\n")
    with pytest.raises(ValueError, match="identity_match_review_threshold must be in"):
        matching_vars(bad)
    bad.write_text("vars: {identity_match_min_records: many}\n")
    with pytest.raises(ValueError, match=str(bad)):
        matching_vars(bad)


@pytest.fixture
def pg_build_schema(tmp_path):
    require_postgres()
    settings = world_settings(tmp_path, target="postgres", pg_schema="tessera_outside")
    warehouse = PostgresWarehouse(settings)
    with warehouse.connect() as con, con.cursor() as cur:
        cur.execute(f'drop schema if exists "{settings.postgres.build_schema}" cascade')
        cur.execute(f'create schema "{settings.postgres.build_schema}"')
    yield settings
    with warehouse.connect() as con, con.cursor() as cur:
        cur.execute(f'drop schema if exists "{settings.postgres.build_schema}" cascade')


def test_a_table_written_and_read_back_is_unchanged(pg_build_schema):
    """Empty strings stay empty (not null), a literal \\N stays text, quotes, commas, newlines and
    accents survive, doubles keep every bit, dates and booleans keep their types."""
    rows = pa.table(
        {
            "text": ["", None, "\\N", 'say "hi", then\nleave', "Zoë Łukasz"],
            "number": [0.1 + 0.2, None, 1 / 3, -1e-300, 0.9999999999999999],
            "count": pa.array([1, None, -(2**62), 0, 7], type=pa.int64()),
            "flag": [True, None, False, True, False],
            "day": [dt.date(1984, 5, 17), None, dt.date(2000, 2, 29), dt.date(1, 1, 1), dt.date(2026, 1, 1)],
        }
    )
    warehouse = PostgresWarehouse(pg_build_schema)
    warehouse.write_build_table("round_trip", rows)
    back = warehouse.read_build_table("round_trip")
    assert back.to_pylist() == rows.to_pylist()
    assert back.schema.field("day").type == pa.date32() and back.schema.field("flag").type == pa.bool_()
    assert warehouse.read_build_table("round_trip", ["flag", "text"]).column_names == ["flag", "text"]
    with pytest.raises(RuntimeError, match="lacks the columns \\['nope'\\]"):
        warehouse.read_build_table("round_trip", ["nope"])


def test_identity_step_without_features_fails_clearly_and_writes_nothing(pg_build_schema):
    with pytest.raises(RuntimeError, match="int_identity__match_features does not exist"):
        match_outside_dbt(pg_build_schema)
    with PostgresWarehouse(pg_build_schema).connect() as con, con.cursor() as cur:
        cur.execute(
            "select count(*) from information_schema.tables where table_schema = %s",
            (pg_build_schema.postgres.build_schema,),
        )
        assert cur.fetchone()[0] == 0


def test_a_failed_step_ends_the_build_and_blocks_publishing(monkeypatch, tmp_path):
    """The dbt invocations after a failed step do not run, the step's written tables are still
    dropped, and the audit names the step and its error."""
    import orchestration.build.pipeline as pipeline
    from orchestration.build.outside_dbt import OutsideStep
    from orchestration.warehouse.audit import Audit

    def fails(settings):
        raise RuntimeError("no features")

    invocations: list[list[str]] = []
    dropped: list[bool] = []
    steps = [
        OutsideStep("identity matching", ("int_identity__match_model",), fails),
        OutsideStep("predictions scoring", ("int_customer_features_scored",), lambda settings: {}),
    ]
    monkeypatch.setattr(pipeline, "outside_steps", lambda settings: steps)
    monkeypatch.setattr(pipeline, "phase_members", lambda settings, manifest: [{"a"}, {"b"}, {"c"}])
    monkeypatch.setattr(
        pipeline,
        "run_dbt",
        lambda settings, args, target=None: (
            invocations.append(args) or {"results": [{"unique_id": "model.tessera.x", "status": "success"}]}
        ),
    )
    monkeypatch.setattr(pipeline, "drop_written_tables", lambda settings: dropped.append(True))
    monkeypatch.setattr(
        pipeline, "parsed_manifest", lambda settings, extra=None: {"nodes": {}}
    )  # no audiences to sandbox
    results = pipeline.build_models(world_settings(tmp_path, target="postgres"))
    assert invocations == [["build", "--select", "a", "--indirect-selection", "empty"]] and dropped == [True]
    audit = Audit.from_run_results(results)
    assert not audit.passed
    assert audit.failures == [
        {
            "node": "model.tessera.int_identity__match_model",
            "status": "error",
            "message": "identity matching outside dbt failed: RuntimeError: no features",
        }
    ]
