"""Audience definitions without a warehouse: the sqlglot guard and the validation of rule YAML."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from orchestration.audiences.rules import AudienceConfigError, find_cycle, load_project, rule_expression
from orchestration.audiences.sqlcheck import AudienceSqlRefused, check_single_select
from orchestration.settings import PROJECT_DIR


@pytest.mark.parametrize("dialect", ["duckdb", "postgres"])
@pytest.mark.parametrize(
    ("sql", "reason"),
    [
        ("drop table customers", "is a DROP statement"),
        ("delete from customers where true", "is a DELETE statement"),
        ("update customers set email = null", "is a UPDATE statement"),
        ("insert into customers select * from customers", "is a INSERT statement"),
        ("create table evil as select 1 as customer_id", "is a CREATE statement"),
        ("select 1 as customer_id; drop table customers", "holds 2 statements (SELECT, DROP)"),
        ("select 1 as customer_id; select 2 as customer_id", "holds 2 statements"),
        (
            "with gone as (delete from customers returning customer_id) select * from gone",
            "contains a DELETE",
        ),
        ("select customer_id into backup from customers", "SELECT … INTO"),
        ("select customer_id from customers for update", "row locks"),
        ("select from where", "does not parse"),
        ("", "is empty"),
        ("-- only a comment", "is empty"),
    ],
)
def test_sqlglot_refuses_anything_but_one_select(sql, reason, dialect):
    with pytest.raises(AudienceSqlRefused) as refused:
        check_single_select("evil_audience", sql, dialect)
    message = str(refused.value)
    assert message.startswith("audience evil_audience: ")
    assert reason in message


@pytest.mark.parametrize(
    "sql",
    [
        "select customer_id from customers",
        "with recent as (select customer_id from events) select customer_id from recent",
        "select customer_id from orders union all select customer_id from events",
        "select customer_id from {{ ref('orders') }} where total_amount > 100",
        "select customer_id from customers;",
    ],
)
def test_sqlglot_accepts_single_selects(sql):
    assert check_single_select("fine", sql, "duckdb") is not None


def _project(tmp_path: Path, audiences: list[dict], **settings) -> Path:
    """An audiences folder: one <name>.yml per audience (a second one of the same name as .yaml)
    and _audiences.yml with `settings` (priority_lists, parameters, holdout_global_percent)."""
    folder = tmp_path / "audiences"
    if folder.exists():
        for old in folder.iterdir():
            old.unlink()
    folder.mkdir(exist_ok=True)
    for audience in audiences:
        path = folder / f"{audience['name']}.yml"
        path = path.with_suffix(".yaml") if path.exists() else path
        path.write_text(yaml.safe_dump(audience))
    (folder / "_audiences.yml").write_text(yaml.safe_dump(settings))
    return folder


def _rule(name: str, rule: dict, **fields) -> dict:
    return {"name": name, "rule": rule, **fields}


def test_the_shipped_audiences_validate():
    project = load_project(PROJECT_DIR / "audiences", PROJECT_DIR / "models" / "audiences")
    names = {a.name for a in project.audiences}
    assert {"cart_abandoners_7d", "lapsed_high_value", "last_season_matchgoers_near_store"} <= names
    matchgoers = project.find("last_season_matchgoers_near_store")
    assert matchgoers.rule is not None
    assert rule_expression(matchgoers.rule) == "(bought_tickets_last_season and lives_near_store)"
    assert all(set(members) <= names for members in project.priority_lists.values())


@pytest.mark.parametrize(
    ("rule", "message"),
    [
        ({"trait": "orders_count", "event": "x"}, "exactly one of"),
        ({"name": "x"}, "exactly one of"),
        ({"trait": "orders_count", "op": "~", "value": 1}, "rule.op: Input should be"),
        ({"trait": "orders_count", "op": ">="}, "op >= needs a value"),
        ({"trait": "orders_count", "op": "in", "value": 3}, "needs a list value"),
        ({"event": "product_viewed", "within_days": 30, "from": "2025-01-01"}, "not both"),
        ({"event": "product_viewed", "from": "last summer"}, "dates like"),
        ({"count": "tickets"}, "rule.count"),
        ({"near_store": "ST001"}, "near_store needs within_km"),
        ({"all": []}, "at least one condition"),
        ({"event": "product_viewed", "within_km": 5}, "does not take within_km"),
        ({"trait": "Orders Count", "value": 1}, "rule.trait"),
        ({"event": "x", "where": {"bad column": 1}}, "not a column name"),
    ],
)
def test_malformed_rules_name_the_file_and_audience(tmp_path, rule, message):
    project = _project(tmp_path, [_rule("broken", rule)])
    with pytest.raises(AudienceConfigError) as error:
        load_project(project)
    text = str(error.value)
    assert str(project / "broken.yml") in text and "audience broken" in text
    assert message in text


def test_unknown_reference_missing_var_and_duplicate_names_are_refused(tmp_path):
    cases = [
        ([_rule("a", {"in_audience": "ghost"})], "in_audience ghost is not an audience"),
        ([_rule("a", {"near_store": {"var": "nope"}, "within_km": 5})], "{var: nope} is not a parameter"),
        (
            [_rule("a", {"all": [{"name": "x", "event": "e"}, {"name": "x", "event": "f"}]})],
            "condition name x is used twice",
        ),
        ([_rule("a", {"name": "is_member", "event": "e"})], "is used twice (or is reserved)"),
        ([{"name": "a"}, {"name": "a"}], "audience a is defined twice"),
    ]
    for audiences, message in cases:
        with pytest.raises(AudienceConfigError, match=None) as error:
            load_project(_project(tmp_path, audiences))
        assert message in str(error.value), str(error.value)


def test_reference_cycles_are_refused_with_the_chain(tmp_path):
    audiences = [
        _rule("a", {"all": [{"event": "x"}, {"in_audience": "b"}]}),
        _rule("b", {"any": [{"not": {"in_audience": "c"}}]}),
        _rule("c", {"in_audience": "a"}),
        _rule("d", {"in_audience": "a"}),
    ]
    with pytest.raises(AudienceConfigError) as error:
        load_project(_project(tmp_path, audiences))
    assert "in_audience references form a cycle: a -> b -> c -> a" in str(error.value)
    assert find_cycle([]) is None


def test_raw_sql_conditions_must_be_one_select(tmp_path):
    fine = _rule("fine", {"sql": "select customer_id from {{ ref('orders') }} where total_amount > 500"})
    load_project(_project(tmp_path, [fine]))
    evil = _rule("evil", {"all": [{"event": "x"}, {"sql": "select 1 as customer_id; drop table orders"}]})
    with pytest.raises(AudienceConfigError) as error:
        load_project(_project(tmp_path, [evil]))
    assert "audience evil: its sql condition 1.2 holds 2 statements" in str(error.value)


def _contracts(models: Path, columns: dict[str, list[str]]) -> None:
    """models/_models.yml with an enforced contract per audience model (boolean conditions)."""
    entries = [
        {
            "name": f"audience_{name}",
            "config": {"contract": {"enforced": True}},
            "columns": [
                {"name": "customer_id", "data_type": "varchar"},
                *({"name": c, "data_type": "boolean"} for c in conditions),
                {"name": "is_member", "data_type": "boolean"},
            ],
        }
        for name, conditions in columns.items()
    ]
    (models / "_models.yml").write_text(yaml.safe_dump({"version": 2, "models": entries}))


def test_priority_lists_and_model_files_are_checked(tmp_path):
    models = tmp_path / "models"
    models.mkdir()
    _contracts(models, {"a": ["condition_1"], "b": ["seen"]})
    audiences = [_rule("a", {"event": "x"}), {"name": "b"}]
    project = _project(tmp_path, audiences, priority_lists={"email": ["a", "zzz"]})
    with pytest.raises(AudienceConfigError, match="priority list email names unknown audience zzz"):
        load_project(project)
    project = _project(tmp_path, audiences, priority_lists={"email": ["a", "b"]})
    with pytest.raises(
        AudienceConfigError, match=r"audience_a\.sql does not exist; create it with the one line"
    ):
        load_project(project, models)
    (models / "audience_a.sql").write_text("{{ tessera.rule_audience('b') }}\n")
    (models / "audience_b.sql").write_text("select customer_id, true as is_member from customers\n")
    with pytest.raises(AudienceConfigError, match="is not the one line"):
        load_project(project, models)
    (models / "audience_a.sql").write_text("{{ tessera.rule_audience('a') }}\n")
    assert [a.name for a in load_project(project, models).audiences] == ["a", "b"]


def test_every_audience_model_has_a_contract_matching_its_rule(tmp_path):
    models = tmp_path / "models"
    models.mkdir()
    (models / "audience_a.sql").write_text("{{ tessera.rule_audience('a') }}\n")
    project = _project(
        tmp_path,
        [
            _rule(
                "a",
                {
                    "all": [
                        {"name": "seen", "event": "x"},
                        {"name": "paid", "trait": "orders_count", "op": ">", "value": 0},
                    ]
                },
            )
        ],
    )
    with pytest.raises(
        AudienceConfigError,
        match=r"audience_a has no enforced contract.*customer_id: varchar; seen: boolean; paid: boolean; is_member: boolean",
    ):
        load_project(project, models)
    _contracts(models, {"a": ["seen", "bought"]})
    with pytest.raises(
        AudienceConfigError, match="differ from the rule's conditions; missing paid; not in the rule bought"
    ):
        load_project(project, models)
    _contracts(models, {"a": ["seen", "paid"]})
    assert load_project(project, models).find("a").rule is not None


def test_shipped_audience_contracts_list_every_condition():
    """The shipped models' contracts agree with their rules (load_project checks it; here the
    columns are read back to be sure the check looked at them)."""
    project = load_project(PROJECT_DIR / "audiences", PROJECT_DIR / "models" / "audiences")
    properties = yaml.safe_load((PROJECT_DIR / "models" / "audiences" / "_audiences__models.yml").read_text())
    contracted = {m["name"]: m for m in properties["models"] if (m.get("config") or {}).get("contract")}
    for audience in project.audiences:
        assert audience.model_name in contracted, audience.name
    for name in (
        "memberships",
        "membership_history",
        "explanations",
        "overlaps",
        "size_history",
        "priority_list_members",
    ):
        model = contracted[f"audience_{name}"]
        assert model["config"]["contract"] == {"enforced": True}
        assert all(c.get("data_type") for c in model["columns"]), name


def test_rule_expression_mirrors_the_nesting():
    project = load_project(PROJECT_DIR / "audiences")
    rule = project.find("browsing_valuable_customers").rule
    assert rule is not None
    assert rule_expression(rule) == (
        "(viewed_2_products_in_30_days and (is_lapsed_high_value or has_3_orders) "
        "and not abandoned_a_cart_this_week)"
    )


def test_every_dbt_invocation_gets_the_definitions_and_overrides_win(tmp_path, monkeypatch):
    import json

    from orchestration.audiences.definitions import AUDIENCES_DIR_ENV, dbt_vars, dbt_vars_args

    shipped = dbt_vars()
    assert [t["name"] for t in shipped["traits"]][:2] == ["first_event_at", "last_event_at"]
    assert shipped["audience_store_id"] == "ST001"  # a parameter becomes a var of its name
    args = dbt_vars_args(["run", "--select", "x", "--vars", "{audience_store_id: ST005}"])
    assert args[:3] == ["run", "--select", "x"] and args[3] == "--vars" and len(args) == 5
    passed = json.loads(args[4])
    assert passed["audience_store_id"] == "ST005" and passed["audiences"] == shipped["audiences"]
    folder = _project(tmp_path, [_rule("only", {"event": "x"})], holdout_global_percent=7)
    monkeypatch.setenv(AUDIENCES_DIR_ENV, str(folder))
    other = dbt_vars()
    assert [a["name"] for a in other["audiences"]] == ["only"] and other["holdout_global_percent"] == 7


def test_a_dbt_command_without_the_definitions_stops_with_how_to_pass_them(tmp_path):
    """dbt run by hand without the vars never builds without audiences: the model stops, saying how."""
    import os
    import subprocess
    import sys

    from orchestration.build.pipeline import settings_environment
    from tests.worlds import world_settings

    settings = world_settings(tmp_path)
    with settings_environment(settings):
        completed = subprocess.run(
            [
                str(Path(sys.executable).parent / "dbt"),
                "compile",
                "--select",
                "audience_memberships",
                "--project-dir",
                str(PROJECT_DIR),
                "--profiles-dir",
                str(PROJECT_DIR),
                "--target-path",
                str(tmp_path / "target"),
                "--log-path",
                str(tmp_path / "logs"),
            ],
            env=os.environ.copy(),
            capture_output=True,
            text=True,
            check=False,
        )
    output = completed.stdout + completed.stderr
    assert completed.returncode != 0, output
    assert (
        "var audiences is not set" in output and 'dbt build --vars "$(tessera audiences vars)"' in output
    ), output


def test_lift_outcomes_default_per_audience_and_are_checked(tmp_path):
    """Every audience with a holdout is measured on lift_outcomes unless its file says `lift:`; one
    without a holdout is not measured; a wrong outcome names the file and key."""
    defaults = [{"name": "ordered_within_14_days", "outcome": "order", "within_days": 14}]
    own = [{"name": "visited_store_within_7_days", "outcome": "store_visit", "within_days": 7}]
    audiences = [
        _rule("a", {"event": "x"}, holdout_percent=10),
        _rule("b", {"event": "x"}, holdout_percent=20, lift=own),
        _rule("c", {"event": "x"}),
    ]
    plan = load_project(_project(tmp_path, audiences, lift_outcomes=defaults)).lift_plan()
    assert plan == [
        {"audience_name": "a", "holdout_percent": 10.0, "outcomes": defaults},
        {"audience_name": "b", "holdout_percent": 20.0, "outcomes": own},
    ]
    wrong = [{"name": "clicks", "outcome": "click", "within_days": 7}]
    with pytest.raises(AudienceConfigError) as error:
        load_project(_project(tmp_path, [_rule("a", {"event": "x"}, holdout_percent=10, lift=wrong)]))
    assert "a.yml" in str(error.value) and "lift" in str(error.value) and "order" in str(error.value)
    with pytest.raises(AudienceConfigError) as error:
        load_project(_project(tmp_path, [], lift_outcomes=[{**defaults[0], "within_days": 0}]))
    assert "_audiences.yml: lift_outcomes" in str(error.value)
    with pytest.raises(AudienceConfigError) as error:
        load_project(_project(tmp_path, [], lift_outcomes=defaults * 2))
    assert "used twice" in str(error.value)


@pytest.mark.parametrize(
    ("jinja", "refused"),
    [
        ('{% do run_query("alter role tessera_analyst_sql superuser") %}', "Jinja statements"),
        ("{% set x = run_query('select 1') %}", "Jinja statements"),
        ("{% if true %}1{% endif %}", "Jinja statements"),
        ("{{ adapter.execute('select pg_read_file(''/etc/passwd'')') }}", "not allowed"),
        ("{{ run_query('select 1') }}", "not allowed"),
        ("{{ modules.os.getcwd() }}", "not allowed"),
        ('{{ tessera.junk_identifier_patterns("x\' or true --") }}', "not allowed"),
        ("{{ ref(var('model')) }}", "not a literal"),
        ("{{ ref('events') | replace('events', 'raw_crm.contacts') }}", "not a call"),
        ("{{ this }}", "not a call"),
        ("{{ dbt.dateadd(*['day', 1, 'x']) }}", "not a literal"),
        ("{{ config(post_hook='grant select (email) on {{ this }} to public') }}", "config() with post_hook"),
        ("{{ config(sql_header='select pg_sleep(1)') }}", "config() with sql_header"),
        ("{{ config({'pre_hook': 'select 1'}) }}", "config() with a positional argument"),
    ],
)
def test_analyst_jinja_is_only_sql_text(jinja, refused):
    """dbt renders an analyst file's Jinja while compiling it, as the build's user: anything that could
    run SQL or code then (statements, run_query, adapter, modules, other macros) is refused first."""
    from orchestration.audiences.jinjacheck import check_analyst_jinja
    from orchestration.audiences.sqlcheck import AudienceSqlRefused

    text = f"select customer_id, true as is_member\nfrom {{{{ ref('customers') }}}}\n-- {jinja}\n"
    with pytest.raises(AudienceSqlRefused) as error:
        check_analyst_jinja("hostile", text, where="models/audiences/audience_hostile.sql")
    message = str(error.value)
    assert "audience hostile" in message and "audience_hostile.sql, line 3" in message and refused in message


def test_the_shipped_analyst_files_pass_the_jinja_check():
    from orchestration.audiences.jinjacheck import check_analyst_files, check_analyst_jinja
    from orchestration.audiences.rules import PROJECT_MODELS

    checked = check_analyst_files(PROJECT_DIR / "models" / "audiences", PROJECT_MODELS)
    assert "audience_cart_abandoners_7d" in checked and "audience_memberships" not in checked
    allowed = (
        "select {{ dbt.dateadd('day', -7, 'as_of') }}, {{ var('likely_churner_percentile', 80) }}, "
        "{{ tessera.hash_bucket('customer_id') }} {# a comment #} from {{ ref('events') }}"
        "{{ config(materialized='table', tags=['analyst']) }}"
    )
    check_analyst_jinja("fine", allowed, where="x.sql")
