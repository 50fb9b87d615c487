"""Audiences: deterministic holdouts, and history that agrees with memberships across builds."""

from __future__ import annotations

import hashlib

from orchestration.warehouse.registry import get_warehouse


def _bucket(text: str) -> int:
    return int(hashlib.md5(text.encode()).hexdigest()[:8], 16) % 100


def test_holdout_is_a_deterministic_hash(published, settings):
    rows = get_warehouse(settings).query_published(
        "select audience_name, customer_id, is_holdout, is_global_holdout from audience_memberships"
    )
    assert rows, "the demo audiences have members"
    for audience, customer, is_holdout, is_global in rows:
        assert is_holdout == (_bucket(f"{audience}:{customer}") < 10)
        assert is_global == (_bucket(f"global:{customer}") < 5)


def test_history_explains_current_members(published, settings):
    warehouse = get_warehouse(settings)
    members = set(warehouse.query_published("select audience_name, customer_id from audience_memberships"))
    entered = set(
        warehouse.query_published(
            "select audience_name, customer_id from audience_membership_history where change_kind = 'entered'"
        )
    )
    assert members <= entered
    conditions = warehouse.query_published(
        "select count(*) from audience_lapsed_high_value "
        "where is_member <> (is_high_value and has_not_ordered_for_90_days)"
    )[0][0]
    assert conditions == 0


def test_lift_is_reported_for_every_declared_outcome(published, settings, monkeypatch):
    """audience_lift has a row per audience with a holdout and per outcome its YAML declares, and
    `tessera audiences lift` lists them (in a fresh world no window has ended: nothing is measured)."""
    from click.testing import CliRunner

    from orchestration.audiences import cli
    from orchestration.audiences.definitions import dbt_vars

    monkeypatch.setattr(cli.console, "width", 240)

    declared = {
        (entry["audience_name"], outcome["name"])
        for entry in dbt_vars()["audience_lift"]
        for outcome in entry["outcomes"]
    }
    assert ("last_season_matchgoers_near_store", "visited_store_within_14_days") in declared
    rows = get_warehouse(settings).query_published(
        "select audience_name, outcome_name, treatment_count, control_count from audience_lift"
    )
    assert {(a, o) for a, o, _, _ in rows} == declared
    result = CliRunner().invoke(cli.audiences, ["lift"])
    assert result.exit_code == 0, result.output
    assert "visited_store_within_14_days" in result.output


def test_lift_chart_draws_each_measured_interval():
    from orchestration.audiences.report import Lift, _lift_chart, format_value

    def lift(name: str, kind: str, uplift: float, low: float, high: float, significant: bool) -> Lift:
        return Lift(name, "o", kind, 14, 40, 10, 0.5, 0.5 - uplift, uplift, None, low, high, significant)

    chart = _lift_chart(
        [
            lift("rate_up", "order", 0.2, 0.05, 0.35, True),
            lift("spend_flat", "revenue", 3.0, -10.0, 16.0, False),
            Lift("unmeasured", "o", "order", 14, 0, 3, None, 0.1, None, None, None, None, False),
        ]
    )
    assert chart.count("<circle") == 2 and "unmeasured" not in chart
    assert "#1b7f3b" in chart  # significant and positive
    assert "uplift 20.0% [5.0%, 35.0%]" in chart and "uplift 3.00 [-10.00, 16.00]" in chart
    assert format_value("revenue", None) == "–"
    assert "whose window has ended" in _lift_chart([])
