"""Audiences on the published demo world: rules agree with their conditions, overlaps, the CLI."""

from __future__ import annotations

from collections import defaultdict

from click.testing import CliRunner

from orchestration.audiences.rules import Condition, load_project
from orchestration.cli import main
from orchestration.settings import PROJECT_DIR
from orchestration.warehouse.registry import get_warehouse


def _evaluate(condition: Condition, values: dict[str, bool], path: str = "1") -> bool:
    kind = condition.kind
    children = condition.children()
    if kind == "all":
        return all(_evaluate(c, values, f"{path}.{i}") for i, c in enumerate(children, 1))
    if kind == "any":
        return any(_evaluate(c, values, f"{path}.{i}") for i, c in enumerate(children, 1))
    if kind == "not":
        return not _evaluate(children[0], values, f"{path}.1")
    return values[condition.name or "condition_" + path.replace(".", "_")]


def test_rule_members_are_exactly_the_customers_whose_conditions_hold(published, settings):
    project = load_project(PROJECT_DIR / "audiences")
    query = get_warehouse(settings).query_published
    customers = query("select count(*) from customers")[0][0]
    for audience in (a for a in project.audiences if a.rule is not None):
        values: dict[str, dict[str, bool]] = defaultdict(dict)
        members = {}
        for customer, condition, value, is_member in query(
            "select customer_id, condition_name, condition_value, is_member from audience_explanations "
            f"where audience_name = '{audience.name}'"
        ):
            values[customer][condition] = value
            members[customer] = is_member
        assert len(members) == customers
        assert all(v is not None for row in values.values() for v in row.values()), (
            "conditions are never null"
        )
        for customer, row in values.items():
            assert members[customer] == _evaluate(audience.rule, row), (audience.name, customer, row)
        current = {
            c
            for (c,) in query(
                f"select customer_id from audience_memberships where audience_name = '{audience.name}'"
            )
        }
        assert current == {c for c, m in members.items() if m}


def test_overlap_matrix_matches_the_memberships(published, settings):
    query = get_warehouse(settings).query_published
    by_audience: dict[str, set[str]] = defaultdict(set)
    for audience, customer in query("select audience_name, customer_id from audience_memberships"):
        by_audience[audience].add(customer)
    rows = query(
        "select audience_a, audience_b, audience_a_count, overlap_count, share_of_a from audience_overlaps"
    )
    names = {a for a, *_ in rows}
    assert len(rows) == len(names) ** 2
    for a, b, a_count, overlap, share in rows:
        assert a_count == len(by_audience[a])
        assert overlap == len(by_audience[a] & by_audience[b])
        assert abs(share - (overlap / a_count if a_count else 0.0)) < 1e-6


def test_the_matchgoer_example_finds_ticket_buyers_near_the_store(published, settings):
    query = get_warehouse(settings).query_published
    members = query(
        "select m.customer_id, d.distance_km from audience_memberships as m "
        "inner join int_customers_located_near_stores as d on m.customer_id = d.customer_id and d.store_id = 'ST001' "
        "where m.audience_name = 'last_season_matchgoers_near_store'"
    )
    assert members, "the demo world has match-goers in London who bought tickets last season"
    assert all(distance <= 25 for _, distance in members)
    bought = {
        c
        for (c,) in query(
            "select distinct customer_id from order_items where product_category = 'event_tickets' "
            "and ordered_at >= timestamp '2025-08-01' and ordered_at < timestamp '2026-06-01'"
        )
    }
    assert {c for c, _ in members} <= bought


def test_cli_prints_sizes_explains_and_writes_a_report(published, settings, tmp_path):
    runner = CliRunner()
    shown = runner.invoke(main, ["audiences"], env={"COLUMNS": "200"})
    assert shown.exit_code == 0, shown.output
    for text in ("lapsed_high_value", "last_season_matchgoers_near_store", "Overlaps", "email_offers"):
        assert text in shown.output
    customer = get_warehouse(settings).query_published(
        "select customer_id from audience_memberships where audience_name = 'lapsed_high_value' limit 1"
    )[0][0]
    explained = runner.invoke(
        main, ["audiences", "explain", "lapsed_high_value", customer], env={"COLUMNS": "200"}
    )
    assert explained.exit_code == 0, explained.output
    assert "IS a member" in explained.output and "is_high_value" in explained.output
    missing = runner.invoke(
        main, ["audiences", "explain", "lapsed_high_value", "email:nobody@nowhere.invalid"]
    )
    assert missing.exit_code == 1 and "no customer holds email:nobody@nowhere.invalid" in missing.output
    out = tmp_path / "audiences.html"
    report = runner.invoke(main, ["audiences", "report", "--out", str(out)])
    assert report.exit_code == 0, report.output
    page = out.read_text()
    assert (
        page.count("<svg") == 2
        and "<script" not in page
        and "http://" not in page.replace("http://www.w3.org/2000/svg", "")
    )


def test_the_build_checked_every_audience_model(published, settings):
    stamp = settings.build_db.parent / "audience-check" / "passed.duckdb.json"
    assert stamp.exists(), "the Dagster build step runs the audience check before dbt build"
    assert "audience_last_season_matchgoers_near_store" in stamp.read_text()


def test_check_names_columns_the_published_warehouse_lacks(published, settings):
    from orchestration.audiences.check import check_columns
    from orchestration.audiences.rules import AudienceProject, AudienceSpec

    rule = {
        "all": [
            {"trait": "no_such_trait", "value": 1},
            {"event": "product_viewed", "where": {"nope": 1}},
            {"trait": "orders_count", "op": ">", "value": 1},
            {"count": "order_items", "where": {"product_category": "event_tickets"}},
        ]
    }
    project = AudienceProject(audiences=[AudienceSpec.model_validate({"name": "x", "rule": rule})])
    assert check_columns(settings, project) == [
        "audience x, condition 1.1: customer_traits has no column no_such_trait",
        "audience x, condition 1.2: events has no column nope",
    ]
