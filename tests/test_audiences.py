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
