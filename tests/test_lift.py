"""Lift with known truth: a response planted after the send (orchestration/generate/campaign.py) is
recovered by audience_lift, a null effect is not called significant, and no control member gets the
treatment's response. Starts from a copy of the session's published world (no extra first build)."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from orchestration.audiences.definitions import AUDIENCES_DIR_ENV, audiences_dir
from orchestration.audiences.lift_bench import (
    BENCH_AUDIENCES,
    bench_environment,
    respond_and_measure,
    write_bench_audiences,
)
from orchestration.audiences.rules import load_project
from orchestration.generate.campaign import (
    EFFECT_AUDIENCE,
    NULL_AUDIENCE,
    CampaignResponseError,
    CampaignTruth,
    plant_campaign_response,
)
from orchestration.settings import PROJECT_DIR, Settings
from orchestration.warehouse.registry import get_warehouse
from tests.worlds import dbt_unit_tests_run_once, world_settings

# Big enough that the planted effect stands well clear of the noise on the session's small world
# (about 250 members with 10% holdouts), so the assertions below do not flake with the seed.
BASELINE = 0.10
EFFECT = 0.40
PLANT_SEED = 5


def copy_published(source: Settings, root: Path) -> Settings:
    """A private copy of a published DuckDB world (raw data, truth, the published file and its audit,
    which tells the next build whether the dbt unit tests passed on this code)."""
    target = world_settings(root)
    shutil.copytree(source.data_dir, target.data_dir)
    target.published_db.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(source.published_db, target.published_db)
    shutil.copyfile(source.last_audit_path, target.last_audit_path)
    return target


@pytest.fixture(scope="module")
def sent_world(published, settings, tmp_path_factory) -> Settings:
    """The session's published world, copied: its build is the send."""
    return copy_published(settings, tmp_path_factory.mktemp("lift_sent"))


@pytest.fixture(scope="module")
def measured(sent_world, tmp_path_factory):
    """The planted response on a copy of the sent world, rebuilt as of the end of the window. Without
    the dbt unit tests, as the lift bench builds (lift_bench.SKIPPED_RESOURCE_TYPES): nothing here
    reads them, and the session's main world runs them."""
    world = copy_published(sent_world, tmp_path_factory.mktemp("lift_measured"))
    with dbt_unit_tests_run_once():
        return respond_and_measure(world, PLANT_SEED, baseline=BASELINE, effect=EFFECT)


def test_planted_effect_is_recovered_and_the_null_is_not_significant(measured) -> None:
    effect, null, truth = measured.effect, measured.null, measured.truth
    assert truth.effect_audience == EFFECT_AUDIENCE and truth.null_audience == NULL_AUDIENCE
    # Both arms measured, from the members the send saw (the global holdout in neither).
    arms = truth.arms[EFFECT_AUDIENCE]
    assert effect.treatment_count == arms["treatment"] and effect.control_count == arms["control"]
    assert effect.control_count >= 20, effect  # audience_lift_min_arm_size: significance is allowed
    assert effect.uplift_ci_low is not None and effect.uplift_ci_high is not None
    assert effect.uplift_ci_low <= EFFECT <= effect.uplift_ci_high, effect
    assert effect.is_significant, effect
    assert measured.covered
    # The null audience is small here (2-3 holdout members): below the minimum arm size, whatever
    # its interval, it is not called significant. Its false-positive rate is the bench's to measure
    # (tessera bench lift), on a broad, half-held-out variant of it and enough seeds; here only the
    # guard is checked.
    assert null.treatment_count > 0 and 0 < null.control_count < 20, null
    assert not null.is_significant, null


def _member_flags(world: Settings, audience: str) -> dict[str, bool]:
    """customer_id -> held out (the audience's holdout or the global one), from the published build."""
    rows = get_warehouse(world).query_published(
        "select customer_id, is_holdout or is_global_holdout from audience_memberships "
        f"where audience_name = '{audience}'"
    )
    return {str(customer_id): bool(held_out) for customer_id, held_out in rows}


def _planted_customers(world: Settings, truth: CampaignTruth) -> list[str]:
    """The customer of every planted raw record (shop order or till transaction), resolved from the
    record's own identifier through the published customer_identifiers, not from the planter's
    bookkeeping."""
    first = truth.first_order_id
    assert first is not None
    orders = pq.read_table(world.raw_dir / "shop" / "orders.parquet").to_pylist()
    visits = pq.read_table(world.raw_dir / "pos" / "transactions.parquet").to_pylist()
    planted_orders = [o for o in orders if o["order_id"] >= first]
    planted_visits = [
        v for v in visits if "-R" in v["transaction_id"] and int(v["transaction_id"].split("-R")[1]) >= first
    ]
    assert len(planted_orders) == truth.orders_planted
    assert len(planted_visits) == truth.store_visits_planted
    owners = {
        (identifier_type, str(value)): str(customer_id)
        for customer_id, identifier_type, value in get_warehouse(world).query_published(
            "select customer_id, identifier_type, identifier_value from customer_identifiers "
            "where identifier_type in ('shop_customer_id', 'email', 'loyalty_card', 'phone')"
        )
    }
    keys = [
        ("shop_customer_id", str(o["customer_id"])) if o["customer_id"] is not None else ("email", o["email"])
        for o in planted_orders
    ] + [
        ("loyalty_card", v["loyalty_card_number"]) if v["loyalty_card_number"] else ("phone", v["phone"])
        for v in planted_visits
    ]
    return [owners[key] for key in keys]


def test_no_control_member_gets_the_treatment_response(sent_world, tmp_path) -> None:
    """With no baseline and a certain effect, exactly the effect audience's treatment arm orders: a
    single holdout (or global-holdout) member with a planted order fails this."""
    world = copy_published(sent_world, tmp_path)
    truth = plant_campaign_response(world, seed=PLANT_SEED, baseline=0.0, effect=1.0)
    flags = _member_flags(world, EFFECT_AUDIENCE)
    held_out = {c for c, out in flags.items() if out}
    treated = {c for c, out in flags.items() if not out}
    assert held_out and treated
    ordered = _planted_customers(world, truth)
    assert len(ordered) == len(set(ordered)), "one planted order per customer"
    reached = set(ordered)
    assert not reached & held_out, (
        f"control members got the treatment's response: {sorted(reached & held_out)[:5]}"
    )
    assert truth.unreachable == 0
    assert reached == treated
    assert truth.arms[EFFECT_AUDIENCE]["control_responded"] == 0
    # The null audience's members outside the effect audience's treatment get nothing at all.
    assert reached <= treated


def test_plant_refuses_a_probability_above_one(sent_world, tmp_path) -> None:
    world = copy_published(sent_world, tmp_path)
    before = (world.raw_dir / "shop" / "orders.parquet").read_bytes()
    with pytest.raises(CampaignResponseError, match="must be probabilities"):
        plant_campaign_response(world, seed=1, baseline=0.8, effect=0.5)
    assert (world.raw_dir / "shop" / "orders.parquet").read_bytes() == before


def test_bench_audiences_build_on_the_shipped_models(tmp_path, monkeypatch) -> None:
    """The bench's audiences folder (no world needed): the project's audiences with only the null
    audience replaced, by a variant the shipped model and its contract still build (the check every
    build makes first), broad and half held out; the environment is the caller's again after."""
    monkeypatch.delenv(AUDIENCES_DIR_ENV, raising=False)
    monkeypatch.delenv("DBT_EXCLUDE_RESOURCE_TYPES", raising=False)
    assert sorted(p.name for p in BENCH_AUDIENCES.glob("*.yml")) == [f"{NULL_AUDIENCE}.yml"]
    shipped = audiences_dir(PROJECT_DIR)
    folder = write_bench_audiences(tmp_path / "audiences")
    replaced = {p.name for p in shipped.iterdir() if p.read_bytes() != (folder / p.name).read_bytes()}
    assert replaced == {f"{NULL_AUDIENCE}.yml"}
    bench = {a.name: a for a in load_project(folder, PROJECT_DIR / "models" / "audiences").audiences}
    project = {a.name: a for a in load_project(shipped).audiences}
    assert bench[NULL_AUDIENCE].holdout_percent == 50 > project[NULL_AUDIENCE].holdout_percent
    assert bench[EFFECT_AUDIENCE] == project[EFFECT_AUDIENCE]
    with bench_environment(tmp_path / "env") as env_folder:
        assert audiences_dir(PROJECT_DIR) == env_folder
    assert audiences_dir(PROJECT_DIR) == shipped
    assert "DBT_EXCLUDE_RESOURCE_TYPES" not in os.environ
