"""Write-audit-publish on Spark without a cluster (issue #17; docs/spark.md, "Publishing"): SparkWarehouse's
prepare_build and publish run against a fake Thrift cursor that keeps a metastore of databases, tables,
views and database properties in memory and answers the statements the module issues the way Spark
does (`show tables` lists views too; `describe database extended` gives the properties as one
`((key,value), ...)` value). It checks the SQL the swap issues, and what a reader querying a published
view would resolve to after every statement of it, crashes included. tests/test_spark.py runs the same
code on a real local cluster (skipped unless TESSERA_TEST_SPARK=1)."""

from __future__ import annotations

import contextlib
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

import pytest

from orchestration.settings import Settings
from orchestration.warehouse.audit import Audit, PublishBlocked
from orchestration.warehouse.spark import BUILD_DATABASE_ENV, SparkSettings, SparkWarehouse

NAME = r"`([^`]+)`"


@dataclass
class Relation:
    kind: str  # "table" or "view"
    # A table: its rows; a view: the (database, table) it selects from.
    rows: list[str] = field(default_factory=list)
    source: tuple[str, str] | None = None


class Crash(RuntimeError):
    """The connection was lost mid-statement (the fake's `crash_on`)."""


class FakeSpark:
    """An in-memory Spark metastore that understands the statements orchestration/warehouse/spark.py issues."""

    def __init__(self) -> None:
        self.databases: dict[str, dict[str, Relation]] = {}
        self.properties: dict[str, dict[str, str]] = {}
        self.statements: list[str] = []
        # Called after every statement that changed something (a reader looking in between).
        self.observers: list[Callable[[str], None]] = []
        # Raise Crash instead of running the n-th statement (1-based) matching this pattern.
        self.crash_on: tuple[str, int] | None = None

    def table(self, database: str, name: str, rows: list[str]) -> None:
        self.databases.setdefault(database, {})[name] = Relation("table", rows=list(rows))

    def resolve(self, database: str, name: str, depth: int = 0) -> list[str]:
        """What `select * from database.name` returns; KeyError when a relation on the way is missing."""
        relation = self.databases[database][name]
        if relation.kind == "table":
            return relation.rows
        assert relation.source is not None and depth < 5
        return self.resolve(*relation.source, depth=depth + 1)

    def run(self, sql: str) -> list[tuple]:
        self.statements.append(sql)
        if self.crash_on and re.match(self.crash_on[0], sql):
            pattern, left = self.crash_on
            self.crash_on = (pattern, left - 1)
            if left == 1:
                self.crash_on = None
                raise Crash(sql)
        rows, changed = self._run(sql)
        if changed:
            for observe in self.observers:
                observe(sql)
        return rows

    def _run(self, sql: str) -> tuple[list[tuple], bool]:
        if sql == "show databases":
            return [(name,) for name in sorted(self.databases)], False
        if m := re.fullmatch(f"show (tables|views) in {NAME}", sql):
            relations = self.databases[m.group(2)]  # KeyError: Spark fails on a missing database too
            kinds = {"tables": ("table", "view"), "views": ("view",)}[m.group(1)]
            return [(m.group(2), n, False) for n, r in sorted(relations.items()) if r.kind in kinds], False
        if m := re.fullmatch(f"describe database extended {NAME}", sql):
            props = sorted(self.properties.get(m.group(1), {}).items())
            text = "(" + ", ".join(f"({k},{v})" for k, v in props) + ")" if props else ""
            return [("Namespace Name", m.group(1)), ("Location", "file:/x"), ("Properties", text)], False
        if m := re.fullmatch(f"create database (if not exists )?{NAME}", sql):
            if m.group(2) in self.databases:
                assert m.group(1), f"database {m.group(2)} exists"
                return [], False
            self.databases[m.group(2)] = {}
            return [], True
        if m := re.fullmatch(f"alter database {NAME} set dbproperties \\((.*)\\)", sql):
            pairs = re.findall(r"'([^']*)' = '([^']*)'", m.group(2))
            self.properties.setdefault(m.group(1), {}).update(pairs)
            return [], True
        if m := re.fullmatch(f"(create|alter) view {NAME}\\.{NAME} as select \\* from {NAME}\\.{NAME}", sql):
            verb, database, name, source = m.group(1), m.group(2), m.group(3), (m.group(4), m.group(5))
            self.resolve(*source)  # Spark analyses the view's query: its table must exist
            existing = self.databases[database].get(name)
            if verb == "create":
                assert existing is None, f"{database}.{name} exists"
            else:
                assert existing is not None and existing.kind == "view", f"{database}.{name} is no view"
            self.databases[database][name] = Relation("view", source=source)
            return [], True
        if m := re.fullmatch(f"drop view if exists {NAME}\\.{NAME}", sql):
            self.databases[m.group(1)].pop(m.group(2), None)
            return [], True
        if m := re.fullmatch(f"drop table if exists {NAME}\\.{NAME}", sql):
            self.databases[m.group(1)].pop(m.group(2), None)
            return [], True
        if m := re.fullmatch(f"drop database if exists {NAME} cascade", sql):
            self.databases.pop(m.group(1), None)
            self.properties.pop(m.group(1), None)
            return [], True
        if m := re.fullmatch(
            f"create table {NAME}\\.{NAME} using parquet as select \\* from {NAME}\\.{NAME}", sql
        ):
            self.table(m.group(1), m.group(2), self.resolve(m.group(3), m.group(4)))
            return [], True
        raise AssertionError(f"the fake does not know this statement: {sql}")

    @contextlib.contextmanager
    def cursor(self) -> Iterator[FakeCursor]:
        yield FakeCursor(self)


class FakeCursor:
    def __init__(self, spark: FakeSpark) -> None:
        self.spark = spark
        self.rows: list[tuple] = []
        self.description: list | None = None

    def execute(self, sql: str) -> None:
        self.rows = self.spark.run(sql)
        self.description = [("col",)] if self.rows else None

    def fetchall(self) -> list[tuple]:
        return self.rows


@pytest.fixture
def spark(tmp_path, monkeypatch) -> Iterator[tuple[SparkWarehouse, FakeSpark, Settings]]:
    settings = Settings.from_env(
        {
            "TESSERA_TARGET": "spark",
            "TESSERA_DATA_DIR": str(tmp_path / "data"),
            "TESSERA_WAREHOUSE": str(tmp_path / "tessera.duckdb"),
            "TESSERA_BUILD_DB": str(tmp_path / "build" / "tessera.duckdb"),
        }
    )
    fake = FakeSpark()
    warehouse = SparkWarehouse(
        settings, SparkSettings.from_env({"TESSERA_SPARK_HOME": str(tmp_path / "spark")})
    )
    monkeypatch.setattr(warehouse, "cursor", fake.cursor)
    yield warehouse, fake, settings


def audited(settings: Settings, passed: bool = True) -> None:
    failures = [] if passed else [{"node": "test.tessera.not_null_x", "status": "fail", "message": "1 row"}]
    Audit(
        passed=passed, failures=failures, tests_passed=3, tests_warned=0, models_built=2, finished_at=0.0
    ).write(settings.audit_path)


def build(
    warehouse: SparkWarehouse, fake: FakeSpark, tables: dict[str, list[str]], views: tuple[str, ...] = ()
) -> str:
    """prepare_build, then what dbt would write: these tables, and views over the first of them."""
    warehouse.prepare_build()
    database = warehouse.build_database()
    for name, rows in tables.items():
        fake.table(database, name, rows)
    for name in views:
        fake.databases[database][name] = Relation("view", source=(database, next(iter(tables))))
    return database


def published_rows(fake: FakeSpark) -> dict[str, list[str]]:
    return {name: fake.resolve("tessera", name) for name in fake.databases.get("tessera", {})}


def changes(fake: FakeSpark, since: int) -> list[str]:
    return [s for s in fake.statements[since:] if not s.startswith(("show ", "describe "))]


def test_the_first_publish_makes_a_view_per_relation_and_records_the_swap(spark):
    warehouse, fake, settings = spark
    database = build(warehouse, fake, {"customers": ["c1", "c2"], "orders": ["o1"]}, views=("customers_v",))
    assert database == "tessera_build_1"
    assert warehouse.dbt_profile_environment() == {BUILD_DATABASE_ENV: "tessera_build_1"}
    audited(settings)
    before = len(fake.statements)
    warehouse.publish()
    assert changes(fake, before) == [
        "create database if not exists `tessera`",
        "alter database `tessera` set dbproperties ('tessera.build' = 'tessera_build_1', 'tessera.swap' = 'moving')",
        "create view `tessera`.`customers` as select * from `tessera_build_1`.`customers`",
        "create view `tessera`.`customers_v` as select * from `tessera_build_1`.`customers_v`",
        "create view `tessera`.`orders` as select * from `tessera_build_1`.`orders`",
        "alter database `tessera` set dbproperties ('tessera.swap' = 'done')",
    ]
    assert published_rows(fake) == {"customers": ["c1", "c2"], "customers_v": ["c1", "c2"], "orders": ["o1"]}
    assert warehouse.published_build() == "tessera_build_1"
    assert settings.last_audit_path.exists() and not settings.audit_path.exists()
    with pytest.raises(RuntimeError, match="no Spark build is under way"):
        warehouse.build_database()


def test_publishing_is_refused_without_a_passing_audit_and_nothing_changes(spark):
    warehouse, fake, settings = spark
    build(warehouse, fake, {"customers": ["c1"]})
    with pytest.raises(PublishBlocked, match="not been audited"):
        warehouse.publish()
    audited(settings, passed=False)
    before = len(fake.statements)
    with pytest.raises(PublishBlocked, match="not_null_x"):
        warehouse.publish()
    assert fake.statements[before:] == []  # refused before any connection
    assert "tessera" not in fake.databases
    assert settings.audit_path.exists() and not settings.last_audit_path.exists()


def test_the_next_build_starts_from_copies_of_the_published_tables(spark):
    warehouse, fake, settings = spark
    build(warehouse, fake, {"journey_launches": ["j1"], "customers": ["c1"]}, views=("customers_v",))
    audited(settings)
    warehouse.publish()
    before = len(fake.statements)
    warehouse.prepare_build()
    assert changes(fake, before) == [
        "create database `tessera_build_2`",
        "create table `tessera_build_2`.`customers` using parquet as select * from `tessera_build_1`.`customers`",
        "create table `tessera_build_2`.`journey_launches` using parquet as "
        "select * from `tessera_build_1`.`journey_launches`",
    ]  # the views are dbt's to make again
    assert warehouse.build_database() == "tessera_build_2"
    # An incremental model appends to its copy; readers still see the published build.
    fake.databases["tessera_build_2"]["journey_launches"].rows.append("j2")
    assert published_rows(fake)["journey_launches"] == ["j1"]


def test_a_second_publish_alters_the_views_drops_the_gone_and_then_the_old_build(spark):
    warehouse, fake, settings = spark
    build(warehouse, fake, {"customers": ["c1"], "orders": ["o1"], "retired": ["r1"]})
    audited(settings)
    warehouse.publish()
    second = build(warehouse, fake, {"customers": ["c1", "c2"], "orders": ["o1", "o2"], "new_mart": ["n1"]})
    fake.databases[second].pop("retired")  # copied from the published build, no longer built
    audited(settings)
    before = len(fake.statements)
    warehouse.publish()
    assert changes(fake, before) == [
        "create database if not exists `tessera`",
        "alter database `tessera` set dbproperties ('tessera.build' = 'tessera_build_2', 'tessera.swap' = 'moving')",
        "alter view `tessera`.`customers` as select * from `tessera_build_2`.`customers`",
        "create view `tessera`.`new_mart` as select * from `tessera_build_2`.`new_mart`",
        "alter view `tessera`.`orders` as select * from `tessera_build_2`.`orders`",
        "drop view if exists `tessera`.`retired`",
        "alter database `tessera` set dbproperties ('tessera.swap' = 'done')",
        "drop database if exists `tessera_build_1` cascade",
    ]
    assert published_rows(fake) == {"customers": ["c1", "c2"], "orders": ["o1", "o2"], "new_mart": ["n1"]}
    assert set(fake.databases) == {"tessera", "tessera_build_2"}


def test_a_reader_sees_whole_tables_of_either_build_during_the_swap_never_a_missing_one(spark):
    """After every statement of the swap, every published view resolves to a complete table of the old
    or the new build (some old, some new: no snapshot across tables), no view of a table both builds
    have is missing, and the old build is dropped only once no view names it."""
    warehouse, fake, settings = spark
    old = {"customers": ["c1"], "orders": ["o1"], "events": ["e1"]}
    new = {"customers": ["c1", "c2"], "orders": ["o1", "o2"], "events": ["e1", "e2"]}
    build(warehouse, fake, old)
    audited(settings)
    warehouse.publish()
    build(warehouse, fake, new)
    audited(settings)
    seen: list[dict[str, str]] = []

    def reader(_statement: str) -> None:
        rows = published_rows(fake)  # KeyError if a view names a dropped table
        assert set(rows) == set(old), rows
        seen.append(
            {
                name: "old" if rows[name] == old[name] else "new"
                for name in rows
                if rows[name] in (old[name], new[name])
            }
        )
        assert len(seen[-1]) == len(old), rows  # every view: one whole build's table

    fake.observers.append(reader)
    warehouse.publish()
    mixes = {tuple(sorted(state.values())) for state in seen}
    assert ("new", "new", "old") in mixes or ("new", "old", "old") in mixes  # observed mid-swap
    assert seen[-1] == dict.fromkeys(old, "new")


@pytest.mark.parametrize("repair", ["prepare_build", "publish"])
def test_a_swap_stopped_half_way_is_finished_and_the_old_build_kept_until_then(spark, repair):
    warehouse, fake, settings = spark
    build(warehouse, fake, {"a": ["a1"], "b": ["b1"], "c": ["c1"]})
    audited(settings)
    warehouse.publish()
    build(warehouse, fake, {"a": ["a2"], "b": ["b2"], "c": ["c2"]})
    audited(settings)
    fake.crash_on = (r"alter view `tessera`\.`b`", 1)
    with pytest.raises(Crash):
        warehouse.publish()
    # Half-way: a names the new build, b and c the old one, which is still there.
    assert published_rows(fake) == {"a": ["a2"], "b": ["b1"], "c": ["c1"]}
    assert {"tessera_build_1", "tessera_build_2"} <= set(fake.databases)
    assert fake.properties["tessera"] == {"tessera.build": "tessera_build_2", "tessera.swap": "moving"}
    assert settings.audit_path.exists()  # not kept as published: the publish did not finish
    # No build is under way any more: the build being published is not written into again.
    with pytest.raises(RuntimeError, match="no Spark build is under way"):
        warehouse.build_database()
    getattr(warehouse, repair)()
    assert published_rows(fake) == {"a": ["a2"], "b": ["b2"], "c": ["c2"]}
    assert fake.properties["tessera"]["tessera.swap"] == "done"
    assert "tessera_build_1" not in fake.databases and "tessera_build_2" in fake.databases
    if repair == "prepare_build":
        assert warehouse.build_database() == "tessera_build_3"
        assert fake.resolve("tessera_build_3", "b") == ["b2"]
    else:
        assert settings.last_audit_path.exists()


def test_a_build_left_over_from_a_failed_run_is_dropped_and_never_published(spark):
    warehouse, fake, settings = spark
    build(warehouse, fake, {"a": ["a1"]})
    audited(settings)
    warehouse.publish()
    build(warehouse, fake, {"a": ["broken"]})  # its audit failed: never published
    before = len(fake.statements)
    warehouse.prepare_build()
    assert changes(fake, before)[:2] == [
        "drop database if exists `tessera_build_2` cascade",
        "create database `tessera_build_3`",
    ]
    assert fake.resolve("tessera_build_3", "a") == ["a1"]
    assert published_rows(fake) == {"a": ["a1"]}


def test_a_table_of_someone_else_in_the_published_database_stops_the_publish_before_any_change(spark):
    warehouse, fake, settings = spark
    fake.table("tessera", "customers", ["not ours"])
    build(warehouse, fake, {"customers": ["c1"]})
    audited(settings)
    with pytest.raises(RuntimeError, match="not Tessera's views"):
        warehouse.publish()
    assert fake.properties.get("tessera", {}) == {}
    assert fake.resolve("tessera", "customers") == ["not ours"]


def test_every_dbt_invocation_is_handed_the_build_under_way_wherever_it_starts(spark):
    """dbt_environment names the build database prepare_build just made, to build() and to the Dagster
    job's dbt resource alike (dbt_profile_environment is the same: the profile names no local file),
    and the next build's once it is prepared; with no build under way there is nothing to name."""
    warehouse, fake, settings = spark
    with pytest.raises(RuntimeError, match="no Spark build is under way"):
        warehouse.dbt_environment()
    build(warehouse, fake, {"customers": ["c1"]})
    assert (
        warehouse.dbt_environment()
        == warehouse.dbt_profile_environment()
        == {BUILD_DATABASE_ENV: "tessera_build_1"}
    )
    audited(settings)
    warehouse.publish()
    build(warehouse, fake, {"customers": ["c1", "c2"]})
    assert warehouse.dbt_environment() == {BUILD_DATABASE_ENV: "tessera_build_2"}


def test_the_raw_tables_are_those_of_the_raw_databases(spark):
    """What `tessera run`'s summary counts: the tables of every raw_* database, in order, named for Spark;
    neither a build's nor the published database's, nor a table still loading."""
    warehouse, fake, _ = spark
    build(warehouse, fake, {"customers": ["c1"]})
    fake.table("raw_shop", "orders", ["o1"])
    fake.table("raw_crm", "contacts", ["a"])
    fake.table("raw_crm", "contacts__loading", [])
    fake.table("retained", "retention_runs", [])
    assert warehouse.raw_tables() == [
        ("raw_crm", "contacts", "`raw_crm`.`contacts`"),
        ("raw_shop", "orders", "`raw_shop`.`orders`"),
    ]
