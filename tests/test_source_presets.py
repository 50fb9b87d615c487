"""Source presets (sources/presets.yml): the YAML is validated before a run, and dbt gets the choice as vars."""

from __future__ import annotations

from pathlib import Path

import pytest

from orchestration.source_presets import PRESETS_FILE_ENV, SourcePresetConfigError, dbt_vars, load_presets


@pytest.fixture
def presets_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    path = tmp_path / "presets.yml"
    monkeypatch.setenv(PRESETS_FILE_ENV, str(path))
    return path


DEMO_VARS = {
    "source_presets": {system: {"preset": "demo"} for system in ("events", "shop", "crm", "support", "esp")},
    "source_databases": {},
}


def test_the_shipped_file_keeps_every_source_on_the_demo_preset() -> None:
    assert load_presets().preset("events") == "demo"
    assert load_presets().preset("shop") == "demo"
    assert dbt_vars() == DEMO_VARS


def test_no_file_means_the_demo_preset(presets_file: Path) -> None:
    assert not presets_file.exists()
    assert dbt_vars() == DEMO_VARS


def test_a_fivetran_shop_reaches_dbt_with_its_location(presets_file: Path) -> None:
    presets_file.write_text(
        "sources:\n  shop:\n    preset: fivetran\n    database: lake\n    schema: shopify_prod\n    table_prefix: eu_\n"
    )
    assert dbt_vars()["source_presets"] == DEMO_VARS["source_presets"] | {
        "shop": {"preset": "fivetran", "database": "lake", "schema": "shopify_prod", "table_prefix": "eu_"},
    }


def test_a_segment_source_reaches_dbt_with_its_location_and_maps(presets_file: Path) -> None:
    presets_file.write_text(
        "sources:\n"
        "  events:\n"
        "    preset: rudderstack\n"
        "    schema: rudder_prod\n"
        "    table_prefix: web_\n"
        "    event_names: {Purchase: order_completed}\n"
        "    event_properties: {revenue: total}\n"
    )
    events = dbt_vars()["source_presets"]["events"]
    assert events == {
        "preset": "rudderstack",
        "database": None,
        "schema": "rudder_prod",
        "table_prefix": "web_",
        "event_names": {"Purchase": "order_completed"},
        "event_properties": {
            "product_id": "product_id",
            "product_category": "category",
            "price": "price",
            "order_id": "order_id",
            "revenue": "total",
        },
    }


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("sources: {events: {preset: segmnt, schema: s}}",
         "sources.events.preset: unknown preset 'segmnt'; the events presets are demo, segment, rudderstack"),
        ("sources: {events: {preset: segment}}",
         "sources.events.schema: the segment preset reads tables in place: say which schema holds them"),
        ("sources: {events: {preset: demo, schema: raw}}",
         "sources.events.schema: the demo preset reads the raw_events tables Tessera loads from its files; "
         "it takes no schema"),
        ("sources: {events: {preset: segment, schema: raw_segment}}",
         "sources.events.schema: 'raw_segment': schemas named raw_* are where Tessera loads its raw files"),
        ("sources: {ads: {preset: google}}", "sources.ads: unknown source system; presets exist for crm, esp, events, shop, support"),
        ("sources: {crm: {preset: hubspot, schema: s}}",
         "sources.crm.preset: unknown preset 'hubspot'; the crm presets are demo, fivetran_hubspot"),
        ("sources: {shop: {preset: shopify, schema: s}}",
         "sources.shop.preset: unknown preset 'shopify'; the shop presets are demo, fivetran"),
        ("sources: {shop: {preset: fivetran}}",
         "sources.shop.schema: the fivetran preset reads tables in place: say which schema holds them"),
        ("sources: {shop: {preset: fivetran, schema: raw_shop}}",
         "sources.shop.schema: 'raw_shop': schemas named raw_* are where Tessera loads its raw files"),
        ("sources: {shop: {preset: demo, schema: shopify}}",
         "sources.shop.schema: the demo preset reads the raw_shop tables Tessera loads from its files"),
        ("sources: {shop: {preset: fivetran, schema: s, event_names: {Purchase: order_completed}}}",
         "sources.shop.event_names: event_names maps the events source's calls; the shop source takes no "
         "event_names"),
        ("sources: {events: {preset: segment, schema: s, tables: x}}", "sources.events.tables: unknown key"),
        ("sources: {events: {preset: segment, schema: 'a; drop table x'}}",
         "sources.events.schema: 'a; drop table x' is not a plain identifier"),
        ("sources: {events: {preset: segment, schema: s, event_names: {Purchase: Order Completed}}}",
         "sources.events.event_names: 'Purchase' maps to 'Order Completed'; a canonical event name is lower-case"),
        ("sources: {events: {preset: segment, schema: s, event_properties: {total: total}}}",
         "sources.events.event_properties: unknown staging column 'total'"),
        ("sources: [events]", "sources: Input should be a valid dictionary"),
        ("sources: {events: {preset: segment, schema: s}", "not valid YAML at line 1"),
    ],
)  # fmt: skip
def test_a_wrong_declaration_names_file_key_and_reason(presets_file: Path, text: str, message: str) -> None:
    presets_file.write_text(text)
    with pytest.raises(SourcePresetConfigError) as raised:
        load_presets()
    assert message in str(raised.value)
    assert str(raised.value).startswith(str(presets_file)) or str(raised.value).startswith("presets.yml")
    assert "\n" not in str(raised.value)


def _published(settings, *statements: str) -> None:  # type: ignore[no-untyped-def]
    import duckdb

    settings.published_db.parent.mkdir(parents=True, exist_ok=True)
    con = duckdb.connect(str(settings.published_db))
    for statement in statements:
        con.execute(statement)
    con.close()


def test_a_schema_without_the_loaders_tables_is_a_config_error(presets_file: Path, tmp_path: Path) -> None:
    from orchestration.source_presets.check import check_presets
    from tests.worlds import world_settings

    settings = world_settings(tmp_path)
    presets_file.write_text("sources: {events: {preset: segment, schema: segment_prd}}")
    check_presets(settings)  # no published warehouse yet: nothing to look in
    _published(settings, "create schema segment_prod", "create table segment_prod.tracks (id varchar)")
    with pytest.raises(SourcePresetConfigError) as raised:
        check_presets(settings)
    assert "sources.events.schema: no tracks, pages, identifies table in schema 'segment_prd'" in str(
        raised.value
    )
    presets_file.write_text("sources: {events: {preset: segment, schema: segment_prod}}")
    assert check_presets(settings).preset("events") == "segment"
    _published(settings, "create table segment_prod.pages (message_id varchar)")
    with pytest.raises(SourcePresetConfigError, match=r"segment_prod.pages has no 'id' column"):
        check_presets(settings)


def test_a_schema_without_fivetrans_shopify_tables_is_a_config_error(
    presets_file: Path, tmp_path: Path
) -> None:
    from orchestration.source_presets.check import check_presets
    from tests.worlds import world_settings

    settings = world_settings(tmp_path)
    _published(settings, "create schema shopify_prod", 'create table shopify_prod."order" (id bigint)')
    presets_file.write_text("sources: {shop: {preset: fivetran, schema: shopify}}")
    with pytest.raises(SourcePresetConfigError) as raised:
        check_presets(settings)
    assert "sources.shop.schema: no customer, order table in schema 'shopify'" in str(raised.value)
    presets_file.write_text("sources: {shop: {preset: fivetran, schema: shopify_prod}}")
    assert check_presets(settings).preset("shop") == "fivetran"
    _published(settings, "create table shopify_prod.customer (customer_id bigint)")
    with pytest.raises(SourcePresetConfigError, match=r"shopify_prod.customer has no 'id' column"):
        check_presets(settings)


@pytest.mark.parametrize(
    ("system", "preset", "tables"),
    [
        ("crm", "fivetran_hubspot", "contact"),
        ("support", "fivetran_zendesk", "ticket, user"),
        ("esp", "fivetran_klaviyo", "event, person"),
    ],
)
def test_a_schema_without_a_fivetran_connectors_tables_is_a_config_error(
    presets_file: Path, tmp_path: Path, system: str, preset: str, tables: str
) -> None:
    from orchestration.source_presets.check import check_presets
    from tests.worlds import world_settings

    settings = world_settings(tmp_path)
    first = tables.split(", ")[0]
    _published(settings, "create schema app_prod", f'create table app_prod."{first}" (id varchar)')
    presets_file.write_text(f"sources: {{{system}: {{preset: {preset}, schema: app}}}}")
    with pytest.raises(SourcePresetConfigError) as raised:
        check_presets(settings)
    assert f"sources.{system}.schema: no {tables} table in schema 'app'" in str(raised.value)
    presets_file.write_text(f"sources: {{{system}: {{preset: {preset}, schema: app_prod}}}}")
    assert check_presets(settings).preset(system) == preset


def _loader_file(path: Path, *statements: str) -> Path:
    import duckdb

    path.parent.mkdir(parents=True, exist_ok=True)
    con = duckdb.connect(str(path))
    for statement in statements:
        con.execute(statement)
    con.close()
    return path


def test_a_loaders_database_file_reaches_dbt_by_name_with_its_path(
    presets_file: Path, tmp_path: Path
) -> None:
    _loader_file(tmp_path / "loader" / "segment.duckdb", "create schema segment_prod")
    presets_file.write_text(
        "databases: {seg: loader/segment.duckdb}\n"
        "sources: {events: {preset: segment, database: seg, schema: segment_prod}}\n"
    )
    out = dbt_vars()
    assert out["source_databases"] == {"seg": str((tmp_path / "loader" / "segment.duckdb").resolve())}
    assert out["source_presets"]["events"]["database"] == "seg"
    assert load_presets().databases == {"seg": (tmp_path / "loader" / "segment.duckdb").resolve()}


@pytest.mark.parametrize(
    ("databases", "message"),
    [
        ("{seg: missing.duckdb}", "databases.seg: no database file at"),
        ("{main: loader.duckdb}", "databases.main: 'main' is a name the warehouse itself uses"),
        ("{warehouse: loader.duckdb}", "databases.warehouse: 'warehouse' is a name the warehouse itself uses"),
        ("{tessera: loader.duckdb}", "databases.tessera: 'tessera' is a name the warehouse itself uses"),
        ("{'se g': loader.duckdb}", "databases.se g: 'se g' is not a plain identifier"),
        ("{seg: ''}", "databases.seg: expected the path of a database file"),
        ("{seg: loader.duckdb, SEG: loader.duckdb}", "databases.SEG: 'SEG' differs from another declared name only in case"),
        ("{information_schema: loader.duckdb}", "databases.information_schema: 'information_schema' is a name the warehouse"),
        ("{seg: [a, b]}", "databases.seg: Input should be a valid string"),
        ("[loader.duckdb]", "databases: Input should be a valid dictionary"),
    ],
)  # fmt: skip
def test_a_wrong_database_file_names_file_key_and_reason(
    presets_file: Path, tmp_path: Path, databases: str, message: str
) -> None:
    _loader_file(tmp_path / "loader.duckdb", "select 1")
    presets_file.write_text(f"databases: {databases}\n")
    with pytest.raises(SourcePresetConfigError) as raised:
        load_presets()
    assert message in str(raised.value)
    assert "\n" not in str(raised.value)


def test_check_looks_for_the_loaders_tables_inside_its_database_file(
    presets_file: Path, tmp_path: Path
) -> None:
    from orchestration.source_presets.check import check_presets
    from tests.worlds import world_settings

    settings = world_settings(tmp_path)
    loader = _loader_file(
        tmp_path / "loader.duckdb",
        "create schema segment_prod",
        "create table segment_prod.pages (id varchar)",
    )
    presets_file.write_text(
        "databases: {seg: loader.duckdb}\nsources: {events: {preset: segment, database: seg, schema: segment_prd}}\n"
    )
    with pytest.raises(SourcePresetConfigError) as raised:
        check_presets(settings)  # no published warehouse is needed: the file is there to look in
    assert "sources.events.schema: no tracks, pages, identifies table in schema 'segment_prd' of the database " \
        "file" in str(raised.value)  # fmt: skip
    presets_file.write_text(
        "databases: {seg: loader.duckdb}\nsources: {events: {preset: segment, database: seg, schema: segment_prod}}\n"
    )
    assert check_presets(settings).preset("events") == "segment"
    loader.write_bytes(b"not a database")
    with pytest.raises(SourcePresetConfigError, match=r"databases.seg: cannot read the database file"):
        check_presets(settings)


def test_a_warehouse_that_attaches_no_files_refuses_database_files(
    presets_file: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from orchestration.settings import Settings
    from orchestration.source_presets.check import check_presets

    _loader_file(tmp_path / "loader.duckdb", "select 1")
    presets_file.write_text("databases: {seg: loader.duckdb}\n")
    monkeypatch.setenv("TESSERA_TARGET", "postgres")
    with pytest.raises(SourcePresetConfigError) as raised:
        check_presets(Settings.from_env())
    assert "databases: the postgres warehouse reads its own databases only" in str(raised.value)
