"""The project's syncs wired into Dagster: they run after a published build, only on audited data."""

from __future__ import annotations

import csv
import json

import pytest

from orchestration.warehouse.registry import get_warehouse


def _run_syncs():
    from dagster import DagsterInstance

    from orchestration.definitions import defs

    with DagsterInstance.get() as instance:
        return defs().resolve_job_def("run_syncs").execute_in_process(instance=instance, raise_on_error=False)


def _materialization(result, key: str) -> dict:
    for event in result.get_asset_materialization_events():
        materialization = event.event_specific_data.materialization
        if materialization.asset_key.to_user_string() == key:
            return {k: v.value for k, v in materialization.metadata.items()}
    raise AssertionError(f"no materialization of {key}")


def test_export_sync_sends_only_consented_customers_then_nothing(published, settings):
    first = _run_syncs()
    assert first.success
    sent = _materialization(first, "sync_customer_export")
    consented = get_warehouse(settings).query_published(
        "select customer_id from sync_file__customers where has_consent_email_marketing and not is_global_holdout"
    )
    everyone = get_warehouse(settings).query_published("select count(*) from sync_file__customers")[0][0]
    held_out = get_warehouse(settings).query_published(
        "select customer_id from sync_file__customers where is_global_holdout"
    )
    exported = set()
    for path in (settings.data_dir / "exports" / "customer_export").glob("*.csv"):
        with open(path) as handle:
            exported |= {row["customer_id"] for row in csv.DictReader(handle)}
    # The global holdout is excluded from every activation, the customer export included.
    assert held_out and not exported & {cid for (cid,) in held_out}
    assert exported == {cid for (cid,) in consented}
    assert sent["global_holdout_excluded"] == len(held_out)
    assert sent["consent_excluded"] == everyone - len(held_out) - len(consented)

    # Every send records the consent decision that justified it.
    from orchestration.sync.project import history_path
    from orchestration.warehouse.connection import open_read_only

    history = open_read_only(history_path(settings))
    logged = dict(
        history.execute(
            "select key, consent_basis from sync_record_log where sync_name = 'customer_export' and status = 'succeeded'"
        ).fetchall()
    )
    history.close()
    bases = dict(
        get_warehouse(settings).query_published(
            "select customer_id, consent_event_id from consent_current "
            "where consent_purpose = 'email_marketing' and is_granted"
        )
    )
    assert logged and all(logged[key] == f"granted:email_marketing:{bases[key]}" for key in logged)

    again = _run_syncs()
    assert again.success
    assert _materialization(again, "sync_customer_export")["requests"] == 0


def test_syncs_refuse_data_whose_build_failed_its_audit(published, settings):
    from orchestration.sync.project import SyncBlocked, find_sync, run_project_sync

    audit = settings.last_audit_path
    saved = audit.read_text()
    try:
        audit.write_text(json.dumps({**json.loads(saved), "passed": False}))
        with pytest.raises(SyncBlocked):
            run_project_sync(settings, find_sync(settings, "customer_export"))
    finally:
        audit.write_text(saved)


def test_syncs_run_after_a_successful_build_only(dbt_manifest):
    from dagster import AssetKey

    from orchestration.definitions import defs

    sensor = defs().resolve_sensor_def("syncs_after_build")
    assert sensor.job_name == "run_syncs"
    graph = defs().resolve_asset_graph()
    assert AssetKey(["published_warehouse"]) in graph.get(AssetKey(["sync_customer_export"])).parent_keys
    assert AssetKey(["sync_file__customers"]) in graph.get(AssetKey(["sync_customer_export"])).parent_keys
    build_keys = defs().resolve_job_def("build_everything").asset_layer.executable_asset_keys
    assert AssetKey(["sync_customer_export"]) not in build_keys


def test_audience_syncs_never_send_a_held_out_member(published, settings):
    """The shipped audience syncs (syncs/syncs.yml) on the built world: no control-group or
    global-holdout member is in any exported file, and each run counts them."""
    from orchestration.sync.project import project_syncs

    result = _run_syncs()
    assert result.success
    warehouse = get_warehouse(settings)
    audience_syncs = [c for c in project_syncs(settings) if c.source.audience]
    assert len(audience_syncs) >= 3
    held_total = sent_total = 0
    for config in audience_syncs:
        held = {
            cid: (holdout, global_holdout)
            for cid, holdout, global_holdout in warehouse.query_published(
                "select customer_id, is_holdout, is_global_holdout from sync_audience__members "
                f"where audience_name = '{config.source.audience}' and (is_holdout or is_global_holdout)"
            )
        }
        sent = set()
        for path in (settings.data_dir / "exports" / config.name).glob("*.csv"):
            with open(path) as handle:
                sent |= {row["_key"] for row in csv.DictReader(handle) if row["_operation"] != "delete"}
        assert not sent & set(held), f"{config.name} sent held-out members"
        counts = _materialization(result, f"sync_{config.name}")
        assert counts["global_holdout_excluded"] == sum(1 for _, g in held.values() if g)
        assert counts["holdout_excluded"] == sum(1 for h, g in held.values() if h and not g)
        held_total += len(held)
        sent_total += len(sent)
    assert held_total and sent_total, "the world has no held-out or no sendable audience member"

    # Every record an audience sync sent carries the consent decision that allowed it, and it was valid.
    from orchestration.consent.audit import audit_project

    audited = 0
    for config in audience_syncs:
        audit = audit_project(settings, config.name)
        assert audit.invalid == [], config.name
        audited += audit.sends
    assert audited > 0
