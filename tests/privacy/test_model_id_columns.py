"""Tessera's own models declare the columns that hold a person's identifiers (`config: meta: tessera:
id_columns:` in their YAML, read from the dbt manifest, orchestration/privacy/id_columns.py): there a short or
all-digit term (shop customer 90417) is compared with those columns only, so another person's order id
'90417' in `orders` neither blocks an erase's publish nor is deleted, while her identifier in
`customer_identifiers` still is. A model declaring nothing is compared in every text column, as before.

A hand-made manifest (in DBT_TARGET_PATH) and three published tables, on DuckDB and on Postgres; then the
project's real declarations, on a hand-made file with the person-source and identity tables, and against
the main test world."""

from __future__ import annotations

import json
import uuid
from pathlib import Path
from typing import Any

import duckdb
import psycopg2
import pytest

from orchestration.person_sources.config import PersonSourcesConfig
from orchestration.privacy import postgres as pg
from orchestration.privacy.backend_duckdb import DuckDBErasure, _erase_in_build
from orchestration.privacy.cluster import PersonSourceMatch
from orchestration.privacy.id_columns import identifier_columns, manifest_id_columns, model_id_columns
from orchestration.settings import Settings
from orchestration.source_presets.config import PRESETS_FILE_ENV
from tests.conftest import TEST_PG_DATABASE, require_postgres
from tests.worlds import world_settings

PG = {"host": "127.0.0.1", "port": 5432, "user": "postgres", "dbname": TEST_PG_DATABASE, "connect_timeout": 3}
ANN_ID = "90417"  # Ann's shop customer id, and the text of Bob's order id
TERMS = [ANN_ID, "cus_ann0000000001"]
NO_CONFIG = PersonSourcesConfig(sources=[], identifier_types={}, declared_in={})


def _node(name: str, meta: dict[str, Any] | None, where: str = "config") -> dict[str, Any]:
    node: dict[str, Any] = {"resource_type": "model", "name": name, "alias": name, "config": {}}
    if meta is not None and where == "config":
        node["config"]["meta"] = meta
    elif meta is not None:
        node["meta"] = meta
    return node


MANIFEST = {
    "nodes": {
        "model.tessera.orders": _node("orders", {"tessera": {"id_columns": ["customer_id"]}}),
        "model.tessera.customer_identifiers": _node(
            "customer_identifiers", {"tessera": {"id_columns": ["Customer_Id", "identifier_value"]}}
        ),
        # No declaration: every text column, as before.
        "model.tessera.order_notes": _node("order_notes", {"pii": True}),
        "test.tessera.not_a_model": {
            "resource_type": "test",
            "name": "x",
            "config": {"meta": {"tessera": {}}},
        },
    }
}


def test_the_manifest_gives_each_models_declared_columns(tmp_path: Path) -> None:
    assert model_id_columns(MANIFEST) == {
        "orders": {"customer_id"},
        "customer_identifiers": {"customer_id", "identifier_value"},
    }
    # Top-level meta (older dbt) counts too; an empty list declares no identifier column at all.
    assert model_id_columns({"nodes": {"m": _node("runs", {"tessera": {"id_columns": []}}, "meta")}}) == {
        "runs": frozenset()
    }
    bad = {
        "nodes": {
            "m": {
                **_node("orders", {"tessera": {"id_columns": "customer_id"}}),
                "original_file_path": "x.sql",
            }
        }
    }
    with pytest.raises(ValueError, match="x.sql: model orders: meta.tessera.id_columns must be a list"):
        model_id_columns(bad)
    # No manifest yet (dbt never parsed here): no declarations, every text column.
    assert manifest_id_columns(tmp_path / "nowhere" / "manifest.json") == {}


def _fake_manifest(root: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    target = root / "target"
    target.mkdir()
    (target / "manifest.json").write_text(json.dumps(MANIFEST))
    monkeypatch.setenv("DBT_TARGET_PATH", str(target))
    # No source preset is declared: only the demo raw contract.
    (root / "presets.yml").write_text("sources: {}\n")
    monkeypatch.setenv(PRESETS_FILE_ENV, str(root / "presets.yml"))


def _world(execute: Any, schema: str) -> None:
    for statement in (
        f"create schema if not exists {schema}",
        f"create table {schema}.orders (order_id varchar, customer_id varchar, store_id varchar)",
        f"insert into {schema}.orders values ('90417', 'cus_bob0000000002', 's1'), ('o-2', 'cus_ann0000000001', 's1')",
        f"create table {schema}.customer_identifiers (customer_id varchar, identifier_type varchar, "
        "identifier_value varchar)",
        f"insert into {schema}.customer_identifiers values ('cus_ann0000000001', 'shop_customer_id', '90417'), "
        "('cus_bob0000000002', 'shop_customer_id', '55')",
        f"create table {schema}.order_notes (note varchar)",
        f"insert into {schema}.order_notes values ('90417'), ('hello')",
    ):
        execute(statement)


@pytest.fixture
def duck_world(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Settings:
    _fake_manifest(tmp_path, monkeypatch)
    settings = world_settings(tmp_path)
    settings.published_db.parent.mkdir(parents=True, exist_ok=True)
    con = duckdb.connect(str(settings.published_db))
    try:
        _world(con.execute, "main")
    finally:
        con.close()
    return settings


def test_duckdb_a_short_term_in_a_models_non_identifier_column_is_no_hit(duck_world: Settings) -> None:
    settings = duck_world
    # The pre-publish check and the proof scan as the backend does.
    scans = {s.table: s for s in DuckDBErasure(settings, warehouse=None).scan_published(TERMS, NO_CONFIG)}  # type: ignore[arg-type]
    assert {t: s.hits for t, s in scans.items() if s.hits} == {
        "main.customer_identifiers": 1,  # her id, in a declared column
        "main.orders": 1,  # her own order, by her customer id
        "main.order_notes": 1,  # undeclared: every text column, as before
    }
    # Bob's order whose id is '90417': left on purpose, counted apart (before: a hit that blocked the publish).
    assert {t: s.outside for t, s in scans.items() if s.outside} == {"main.orders": 1}

    con = duckdb.connect(str(settings.published_db))
    try:
        ids = identifier_columns(settings, ("main",))
        deleted = _erase_in_build({}, PersonSourceMatch(), TERMS, NO_CONFIG, [], ids)(con)["deleted_rows"]
        assert {
            k: v for k, v in deleted.items() if k in ("orders", "customer_identifiers", "order_notes")
        } == {
            "orders": 1,
            "customer_identifiers": 1,
            "order_notes": 1,
        }
        assert con.execute("select order_id from orders").fetchall() == [("90417",)]  # Bob's stays
    finally:
        con.close()


@pytest.fixture
def pg_world(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):  # type: ignore[no-untyped-def]
    require_postgres()
    _fake_manifest(tmp_path, monkeypatch)
    published = f"privacy_models_{uuid.uuid4().hex[:8]}"
    settings = world_settings(tmp_path, "postgres", pg_schema=published)
    with psycopg2.connect(**PG) as con, con.cursor() as cur:
        _world(cur.execute, published)
        _world(cur.execute, f"{published}_build")
    try:
        yield settings, published
    finally:
        with psycopg2.connect(**PG) as con, con.cursor() as cur:
            for schema in (published, f"{published}_build"):
                cur.execute(f"drop schema if exists {schema} cascade")


def test_postgres_a_short_term_in_a_models_non_identifier_column_is_no_hit(pg_world) -> None:  # type: ignore[no-untyped-def]
    settings, published = pg_world
    mine = (f"{published}.", f"{published}_build.")
    scans = {s.table: s for s in pg.scan(settings, TERMS) if s.table.startswith(mine)}
    for schema in (published, f"{published}_build"):
        assert {t: s.hits for t, s in scans.items() if s.hits and t.startswith(f"{schema}.")} == {
            f"{schema}.customer_identifiers": 1,
            f"{schema}.orders": 1,
            f"{schema}.order_notes": 1,
        }
        assert {t: s.outside for t, s in scans.items() if s.outside and t.startswith(f"{schema}.")} == {
            f"{schema}.orders": 1
        }
    deleted, _, _ = pg.delete_in_warehouse(settings, NO_CONFIG, {}, PersonSourceMatch(), TERMS, [])
    build = f"{published}_build"
    assert {k: v for k, v in deleted.items() if k.startswith(build)} == {
        f"{build}.orders": 1,
        f"{build}.customer_identifiers": 1,
        f"{build}.order_notes": 1,
    }
    with psycopg2.connect(**PG) as con, con.cursor() as cur:
        cur.execute(f"select order_id from {build}.orders")
        assert cur.fetchall() == [("90417",)]


#: Models whose only column that can hold a person's short value is a record id that mixes a person's
#: shop customer or CRM id with order, ticket and event ids: they declare nothing (every text column).
RECORD_ID_ONLY = (
    "int_identity__identifier_edges",
    "int_identity__edges",
    "int_identity__probabilistic_edges",
    "int_identity__record_names",
    "int_identity__person_records",
    "int_identity__match_features",
    "int_identity__match_pairs",
)


def test_person_source_and_identity_models_declare_theirs(
    dbt_manifest: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The project's own declarations, on a hand-made file with the models' tables: Ann's person-source
    records (by her phone as written, and her loyalty card used as the record id) and her probabilistic link
    (by its anchor) are hits; Bob's record whose postcode is the ZIP code 90417 and his link from ticket
    90417 are not (counted apart). Before the declarations, both were hits that blocked an erase's publish."""
    declared = manifest_id_columns(Path(dbt_manifest))
    assert declared["base_person_sources__records"] == {
        "record_id",
        "email",
        "email_raw",
        "phone",
        "phone_raw",
    }
    assert declared["base_person_sources__external_ids"] == {
        "record_id",
        "identifier_value",
        "identifier_value_raw",
    }
    assert declared["int_identity__probabilistic_links"] == {"anchor_value_l", "anchor_value_r"}
    assert not set(RECORD_ID_ONLY) & set(declared)

    (tmp_path / "presets.yml").write_text("sources: {}\n")
    monkeypatch.setenv(PRESETS_FILE_ENV, str(tmp_path / "presets.yml"))
    settings = world_settings(tmp_path)
    settings.published_db.parent.mkdir(parents=True, exist_ok=True)
    con = duckdb.connect(str(settings.published_db))
    try:
        for statement in (
            "create table base_person_sources__records (source_name varchar, table_name varchar, "
            "record_id varchar, full_name varchar, email varchar, phone_raw varchar, phone varchar, "
            "postcode varchar, raw_record varchar)",
            "insert into base_person_sources__records values "
            "('fair', 'visitors', 'v-1', 'Ann Exact', null, '07700900123', '+447700900123', 'LS1 4AB', '{}'), "
            "('loyalty', 'members', '90417', 'Ann Exact', null, null, null, null, '{}'), "
            "('fair', 'visitors', 'v-2', 'Bob Kept', 'bob@example.org', null, null, '90417', '{}')",
            "create table int_identity__probabilistic_links (pair_id varchar, table_name_l varchar, "
            "record_id_l varchar, anchor_value_l varchar, record_id_r varchar, anchor_value_r varchar)",
            "insert into int_identity__probabilistic_links values "
            "('p1', 'customers', '90417', '90417', 'v-1', 'fair:visitors:v-1'), "
            "('p2', 'tickets', '90417', 'bob@example.org', 'v-2', 'bob@example.org')",
        ):
            con.execute(statement)
    finally:
        con.close()
    scans = DuckDBErasure(settings, warehouse=None).scan_published(["90417", "07700900123"], NO_CONFIG)  # type: ignore[arg-type]
    assert {s.table: (s.hits, s.outside) for s in scans} == {
        "main.base_person_sources__records": (2, 1),
        "main.int_identity__probabilistic_links": (1, 1),
    }


def test_the_projects_declared_columns_exist_in_the_built_tables(published, dbt_manifest, settings) -> None:  # type: ignore[no-untyped-def]
    """Every column a model's YAML declares is a column of the table it builds (a renamed column would
    otherwise leave the person's identifier uncompared), and the models the erase must read precisely do
    declare theirs."""
    declared = manifest_id_columns(Path(dbt_manifest))
    for model in ("customers", "customer_identifiers", "customer_source_records", "identity_links",
                  "customer_id_map", "events", "orders", "audience_memberships", "sync_audience__members",
                  "base_shop__orders", "quarantined_rows", "base_person_sources__records",
                  "base_person_sources__external_ids", "int_identity__probabilistic_links"):  # fmt: skip
        assert model in declared, model
    con = duckdb.connect(str(settings.published_db), read_only=True)
    try:
        tables = {
            table: {c.lower() for (c,) in con.execute(
                "select column_name from information_schema.columns where table_schema = 'main' and table_name = ?",
                [table],
            ).fetchall()}
            for (table,) in con.execute(
                "select table_name from information_schema.tables where table_schema = 'main' "
                "and table_type = 'BASE TABLE'"
            ).fetchall()
        }  # fmt: skip
    finally:
        con.close()
    missing = {
        t: sorted(cols - tables[t]) for t, cols in declared.items() if t in tables and cols - tables[t]
    }
    assert missing == {}
