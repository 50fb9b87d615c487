"""`tessera demo` on Postgres in the loaders' shapes (issue #15): the generator's files written as the loaders'
tables into the server (PostgresWarehouse.write_demo_loader_tables) are the tables DuckDB writes from the
same files, the demo's presets stage them on Postgres and place their records in customers, and a reused
demo's load times move to end now. One tiny world, one build narrowed to identity."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import duckdb
import pytest

from orchestration.build.pipeline import build
from orchestration.cli import _write_demo_sources
from orchestration.generate import generate
from orchestration.generate.loader_shapes import LOADER_SHAPES, converted_files, loader_schemas
from orchestration.retention.engine import SCHEMA as RETAINED_SCHEMA
from orchestration.settings import Settings
from orchestration.source_presets import PRESETS_FILE_ENV
from orchestration.source_presets.config import demo_presets_file, load_presets, presets_path
from orchestration.warehouse.demo_loader_tables import write_loader_shapes
from orchestration.warehouse.registry import get_warehouse
from tests.conftest import require_postgres
from tests.worlds import IDENTITY_LAYER, dbt_unit_tests_run_once, world_settings

PG_SCHEMA = "tessera_pgdemo"


def _pg(settings: Settings, sql: str, params: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    import psycopg2

    con = psycopg2.connect(**settings.postgres.connect_kwargs())
    try:
        with con, con.cursor() as cur:
            cur.execute(sql, params)
            return list(cur.fetchall()) if cur.description else []
    finally:
        con.close()


def _columns(rows: list[tuple[Any, ...]]) -> dict[str, list[str]]:
    """{"schema.table": [columns in order]} from (schema, table, column) rows in ordinal order."""
    tables: dict[str, list[str]] = {}
    for schema, table, column in rows:
        tables.setdefault(f"{schema}.{table}", []).append(column)
    return tables


def _drop_schemas(settings: Settings) -> None:
    """The demo's loader schemas (the database's, named as the code names them), this world's published,
    build and masked schemas, and the raw and retained schemas its build loaded (every build in the
    database makes its own)."""
    for (schema,) in _pg(
        settings,
        "select schema_name from information_schema.schemata where schema_name = any(%s) "
        "or schema_name like %s or left(schema_name, 4) = 'raw_'",
        ([*loader_schemas(), RETAINED_SCHEMA], PG_SCHEMA.replace("_", "\\_") + "%"),
    ):
        _pg(settings, f'drop schema "{schema}" cascade')


@pytest.fixture(scope="module")
def demo_world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Settings, dict[str, Any]]]:
    """A generated world written as `tessera demo` writes it on Postgres (the CLI's own step: the loader
    tables, data/presets.postgres.yml, the converted files removed), with what DuckDB writes from the same
    files beforehand: (settings, {"written": …, "columns": …, "counts": …})."""
    require_postgres()
    root = tmp_path_factory.mktemp("postgres-demo")
    settings = world_settings(root, "postgres", pg_schema=PG_SCHEMA)
    generate(customers=30, seed=8, out=settings.data_dir)
    duck = duckdb.connect()
    written = write_loader_shapes(settings.raw_dir, duck)
    reference = {
        "written": written,
        "columns": _columns(
            duck.execute(
                "select table_schema, table_name, column_name from information_schema.columns "
                "where starts_with(table_schema, 'demo_') order by table_schema, table_name, ordinal_position"
            ).fetchall()
        ),
        "counts": {
            name: duck.execute(
                f'select count(*) from {name.split(".")[0]}."{name.split(".")[1]}"'
            ).fetchall()[0][0]
            for tables in written.values()
            for name in tables
        },
    }
    duck.close()
    with pytest.MonkeyPatch.context() as monkeypatch:
        # The commands read the target and the presets from the environment: this world's.
        for name, value in {
            "TESSERA_TARGET": "postgres",
            "TESSERA_DATA_DIR": str(settings.data_dir),
            "TESSERA_WAREHOUSE": str(settings.published_db),
            "TESSERA_BUILD_DB": str(settings.build_db),
            "TESSERA_PG_DATABASE": settings.postgres.database,
            "TESSERA_PG_SCHEMA": settings.postgres.published_schema,
            "TESSERA_PG_BUILD_SCHEMA": settings.postgres.build_schema,
            PRESETS_FILE_ENV: str(root / "no-presets-of-the-users.yml"),
        }.items():
            monkeypatch.setenv(name, value)
        _drop_schemas(settings)
        # A raw contract copy from a demo in the other shape, with a view over it as a build leaves one.
        _pg(settings, "create schema raw_crm")
        _pg(settings, "create table raw_crm.contacts (contact_id text)")
        _pg(settings, f"create schema {PG_SCHEMA}")
        _pg(settings, f"create view {PG_SCHEMA}.stg_crm__contacts as select * from raw_crm.contacts")
        try:
            _write_demo_sources(settings)
            yield settings, reference
        finally:
            _drop_schemas(settings)


def test_the_loader_tables_are_those_duckdb_writes(demo_world) -> None:  # type: ignore[no-untyped-def]
    settings, reference = demo_world
    assert set(reference["written"]) == set(LOADER_SHAPES)
    columns = _columns(
        _pg(
            settings,
            "select table_schema, table_name, column_name from information_schema.columns "
            "where table_schema = any(%s) order by table_schema, table_name, ordinal_position",
            (loader_schemas(),),
        )
    )
    assert columns == reference["columns"]
    counts = {
        name: _pg(settings, 'select count(*) from {}."{}"'.format(*name.split(".")))[0][0] for name in columns
    }
    assert counts == reference["counts"]
    assert counts["demo_segment.tracks"] > 0 and counts["demo_shopify.order"] > 0
    # Typed for Postgres: load times are timestamps, flags booleans, amounts numbers.
    types = dict(
        _pg(
            settings,
            "select table_schema || '.' || table_name || '.' || column_name, data_type "
            "from information_schema.columns where table_schema = any(%s)",
            (loader_schemas(),),
        )
    )
    assert types["demo_segment.tracks.uuid_ts"] == "timestamp without time zone"
    assert types["demo_shopify.order._fivetran_synced"] == "timestamp without time zone"
    assert types["demo_shopify.order._fivetran_deleted"] == "boolean"
    assert types["demo_shopify.order.total_price"] == "double precision"
    assert types["demo_shopify.order.id"] == "bigint"
    # The raw contract's copy of a system written is gone (and the view a build left over it with it).
    assert _pg(settings, "select count(*) from information_schema.tables where table_schema = 'raw_crm'") == [
        (0,)
    ]
    # Declared for this target; the files the tables came from are removed.
    declared = demo_presets_file(settings.data_dir, "postgres")
    assert presets_path() == declared
    assert {system: load_presets().preset(system) for system in LOADER_SHAPES} == {
        system: preset for system, (preset, _) in LOADER_SHAPES.items()
    }
    assert converted_files(settings.raw_dir, list(LOADER_SHAPES)) == []
    assert (settings.raw_dir / "pos").is_dir()  # POS stays on its raw files


def test_the_demos_records_reach_customers_on_postgres(demo_world) -> None:  # type: ignore[no-untyped-def]
    settings, reference = demo_world
    with dbt_unit_tests_run_once():
        result = build(settings, select=IDENTITY_LAYER)
    assert result.published, result.audit.failures
    placed = dict(
        _pg(
            settings,
            f"select source_name, count(*) from {PG_SCHEMA}.customer_source_records group by 1",
        )
    )
    # Every system written as loader tables places records; their raw files are gone, so these came
    # through the presets.
    assert set(LOADER_SHAPES) <= {name for name, rows in placed.items() if rows > 0}, placed
    # The shop's records are the loader's: ids of Shopify's customer and order tables.
    shop_ids = {
        str(record_id)
        for (record_id,) in _pg(
            settings, f"select record_id from {PG_SCHEMA}.customer_source_records where source_name = 'shop'"
        )
    }
    loader_ids = {
        str(record_id)
        for (record_id,) in _pg(
            settings, 'select id from demo_shopify.customer union all select id from demo_shopify."order"'
        )
    }
    assert shop_ids and shop_ids <= loader_ids
    staged = _pg(settings, f"select count(*) from {PG_SCHEMA}.stg_shop__orders")[0][0]
    assert staged == reference["counts"]["demo_shopify.order"]


def test_a_reused_demos_load_times_end_now(demo_world) -> None:  # type: ignore[no-untyped-def]
    settings, _ = demo_world
    spans = "select max({c}) - min({c}) from {t}"
    _pg(settings, "update demo_hubspot.contact set _fivetran_synced = _fivetran_synced - interval '10 days'")
    _pg(settings, "update demo_segment.tracks set uuid_ts = uuid_ts - interval '3 days'")
    before = [
        _pg(settings, spans.format(c="_fivetran_synced", t="demo_hubspot.contact"))[0][0],
        _pg(settings, spans.format(c="uuid_ts", t="demo_segment.tracks"))[0][0],
    ]
    get_warehouse(settings).restamp_demo_loader_tables()
    for column, table, span in [
        ("_fivetran_synced", "demo_hubspot.contact", before[0]),
        ("uuid_ts", "demo_segment.tracks", before[1]),
    ]:
        latest, earliest, now = _pg(
            settings, f"select max({column}), min({column}), now() at time zone 'utc' from {table}"
        )[0]
        assert abs((now - latest).total_seconds()) < 60, (table, latest, now)
        assert latest - earliest == span  # moved, not squashed
