"""Erasure reaches the tables a source preset reads in place (orchestration/privacy/loaders.py): a loader's
schema is deleted from and scanned like Tessera's own raw tables, within the declared prefix only; a preset in
another database is named as out of reach; a table Tessera may not delete in gets a note, not an error."""

from __future__ import annotations

import uuid
from pathlib import Path

import psycopg2
import pytest

from orchestration.person_sources.config import PersonSourcesConfig, load_config
from orchestration.privacy import postgres as pg
from orchestration.privacy.backend_postgres import PostgresErasure
from orchestration.privacy.cluster import PersonSourceMatch
from orchestration.privacy.loaders import LoaderSource, loader_sources, loader_tables, split_reach
from orchestration.source_presets import PRESETS_FILE_ENV
from tests.conftest import TEST_PG_DATABASE, require_postgres
from tests.worlds import world_settings

PG = {"host": "127.0.0.1", "port": 5432, "user": "postgres", "dbname": TEST_PG_DATABASE, "connect_timeout": 3}
ANN = ["zoe.erasable@example.org", "anon-zoe-41"]


def _presets(root: Path, monkeypatch: pytest.MonkeyPatch, schema: str) -> None:
    path = root / "presets.yml"
    path.write_text(
        "sources:\n"
        f"  events: {{preset: segment, schema: {schema}, table_prefix: web_}}\n"
        "  crm: {preset: fivetran_hubspot, database: crm_warehouse, schema: hubspot}\n"
    )
    monkeypatch.setenv(PRESETS_FILE_ENV, str(path))


def test_a_loaders_tables_are_its_schema_and_prefix(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _presets(tmp_path, monkeypatch, "segment_prod")
    sources = loader_sources(world_settings(tmp_path))
    # The demo preset loads files into raw_<source>: not a loader table.
    assert [(s.system, s.preset, s.database, s.schema, s.prefix) for s in sources] == [
        ("crm", "fivetran_hubspot", "crm_warehouse", "hubspot", ""),
        ("events", "segment", None, "segment_prod", "web_"),
    ]
    reached, unreached = split_reach(sources, "analytics")
    assert [s.system for s in reached] == ["events"] and [s.system for s in unreached] == ["crm"]
    assert [s.system for s in split_reach(sources, "CRM_Warehouse")[0]] == ["crm", "events"]
    # DuckDB's build file reaches only the sources that name no database.
    assert [s.system for s in split_reach(sources, None)[0]] == ["events"]
    tables = [("segment_prod", "web_tracks"), ("Segment_Prod", "WEB_pages"), ("segment_prod", "app_tracks"),
              ("public", "web_tracks")]  # fmt: skip
    assert loader_tables(tables, reached) == [("segment_prod", "web_tracks"), ("Segment_Prod", "WEB_pages")]
    no_prefix = LoaderSource("shop", "fivetran", None, "shopify", "")
    assert loader_tables([("shopify", "order"), ("shopify", "customer")], [no_prefix]) == [
        ("shopify", "order"),
        ("shopify", "customer"),
    ]


@pytest.fixture
def loader_schema(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):  # type: ignore[no-untyped-def]
    """A Segment-shaped schema on the server: the person in two prefixed tables, and in a table of the same
    schema that is not the source's (no prefix); Bob in each."""
    require_postgres()
    suffix = uuid.uuid4().hex[:8]
    schema, published, role = f"ldr_{suffix}", f"privacy_ldr_{suffix}", f"tessera_ldr_{suffix}"
    settings = world_settings(tmp_path, "postgres", pg_schema=published)
    _presets(tmp_path, monkeypatch, schema)
    with psycopg2.connect(**PG) as con, con.cursor() as cur:
        cur.execute(f"create schema {schema}")
        cur.execute(f"create schema {published}_build")
        cur.execute(f"create table {schema}.web_identifies (id varchar, anonymous_id varchar, email varchar)")
        cur.execute(
            f"insert into {schema}.web_identifies values "
            "('m1', 'anon-zoe-41', ' Zoe.Erasable@Example.org'), ('m2', 'anon-bob-42', 'bob@example.org')"
        )
        cur.execute(f"create table {schema}.web_tracks (id varchar, anonymous_id varchar, event varchar)")
        cur.execute(
            f"insert into {schema}.web_tracks values ('m3', 'anon-zoe-41', 'order_completed'), "
            "('m4', 'anon-bob-42', 'order_completed')"
        )
        cur.execute(f"create table {schema}.mailing (email varchar)")
        cur.execute(f"insert into {schema}.mailing values ('zoe.erasable@example.org')")
        cur.execute(f"create role {role} nologin")
        cur.execute(f"grant usage on schema {schema} to {role}")
        cur.execute(f"grant select on {schema}.web_tracks to {role}")
    try:
        yield settings, schema, role
    finally:
        with psycopg2.connect(**PG) as con, con.cursor() as cur:
            cur.execute(f"drop schema if exists {schema} cascade")
            cur.execute(f"drop schema if exists {published}_build cascade")
            cur.execute(f"drop role if exists {role}")


def _hits(settings, schema: str) -> dict[str, int]:  # type: ignore[no-untyped-def]
    return {s.table: s.hits for s in pg.scan(settings, ANN) if s.table.startswith(schema) and s.hits}


def test_postgres_erase_deletes_in_the_loaders_tables_and_the_proof_scans_them(loader_schema) -> None:  # type: ignore[no-untyped-def]
    settings, schema, _ = loader_schema
    # The proof's scan sees the loader's tables (before this change it saw none of them).
    assert _hits(settings, schema) == {f"{schema}.web_identifies": 1, f"{schema}.web_tracks": 1}

    config = PersonSourcesConfig(sources=[], identifier_types={}, declared_in={})
    deleted, notes, loader_notes = pg.delete_in_warehouse(settings, config, {}, PersonSourceMatch(), ANN, [])
    assert {k: v for k, v in deleted.items() if k.startswith(schema)} == {
        f"{schema}.web_identifies": 1,
        f"{schema}.web_tracks": 1,
    }
    assert notes == {} and loader_notes == {}
    assert _hits(settings, schema) == {}
    with psycopg2.connect(**PG) as con, con.cursor() as cur:
        cur.execute(f"select id from {schema}.web_identifies union all select id from {schema}.web_tracks")
        assert sorted(r[0] for r in cur.fetchall()) == ["m2", "m4"]  # Bob's rows stay
        # Not the source's table (no prefix): neither edited nor scanned.
        cur.execute(f"select count(*) from {schema}.mailing")
        assert cur.fetchone() == (1,)

    # The HubSpot preset in another database: out of reach, said in the proof.
    backend = PostgresErasure(settings, warehouse=None)  # type: ignore[arg-type]
    assert "crm preset fivetran_hubspot (crm_warehouse.hubspot" in backend.proof_notes()["not_scanned"]


def test_a_loader_table_tessera_may_not_delete_in_gets_a_note(loader_schema) -> None:  # type: ignore[no-untyped-def]
    settings, schema, role = loader_schema
    from psycopg2 import errors

    con = pg.connect(settings)
    try:
        session = pg.PgSession(con)
        session.execute(f"set role {role}")
        removed, note = pg._delete_in_declared_table(session, schema, "web_tracks", "", [], ANN, errors)
    finally:
        con.rollback()
        con.close()
    assert removed == 0
    assert note is not None and note.startswith(f"1 row(s) of the person in {schema}.web_tracks")
    assert "zoe" not in note  # no personal data in the note


def test_an_erase_rewrites_a_loaders_own_file_as_the_loader_left_it(tmp_path: Path) -> None:
    """A loader's own DuckDB file (sources/presets.yml `databases:`): the person's rows out, the file
    rewritten in its own storage version and with its permissions; and rewritten again when an erase was
    killed between its delete and the rewrite (rows gone, their bytes still in free blocks)."""
    import os

    import duckdb

    from orchestration.privacy.backend_duckdb import _erase_in_loader_file
    from orchestration.privacy.id_columns import IdentifierColumns

    path = tmp_path / "loader.duckdb"
    source = LoaderSource("events", "segment", "seg", "seg", "")
    terms = ["zed.erasable@example.org"]

    def loader_file(version: str = "") -> None:
        path.unlink(missing_ok=True)
        con = duckdb.connect()
        con.execute(f"attach '{path}' as a" + (f" (storage_version '{version}')" if version else ""))
        con.execute("create schema a.seg")
        con.execute(
            "create table a.seg.identifies as select 'm-' || i as id, 'u' || i as user_id, "
            "case when i = 1234 then 'zed.erasable@example.org' else 'person' || i || '@example.com' end "
            "as email from range(3000) r(i)"
        )
        con.execute("detach a")
        con.close()
        os.chmod(path, 0o660)

    def erase_once() -> dict[str, int]:
        return _erase_in_loader_file("seg", path, [source], terms, IdentifierColumns.of([source]))

    # An older loader's file (DuckDB 1.2's storage, which compresses these strings out of plain sight).
    loader_file("v1.2.0")
    assert erase_once() == {"seg:seg.identifies": 1}
    assert path.stat().st_mode & 0o777 == 0o660
    con = duckdb.connect()
    con.execute(f"attach '{path}' as a (read_only)")
    version = "select tags['storage_version'] from duckdb_databases() where database_name = 'a'"
    assert con.execute(version).fetchall() == [("v1.2.0+",)]
    assert con.execute("select count(*) from a.seg.identifies").fetchall() == [(2999,)]
    con.close()
    # Killed between the delete and the rewrite: the row is gone, its bytes are not (this storage version
    # keeps the strings in plain bytes).
    loader_file()
    assert b"zed.erasable" in path.read_bytes()
    con = duckdb.connect(str(path))
    con.execute("delete from seg.identifies where email = 'zed.erasable@example.org'")
    con.execute("checkpoint")
    con.close()
    assert b"zed.erasable" in path.read_bytes()
    assert erase_once() == {}
    assert b"zed.erasable" not in path.read_bytes()


class _FileOnlyBackend:
    """The part of a backend prove() reads: the published side is one loader file, named by its real path."""

    name = "file-only"

    def __init__(self, file: Path) -> None:
        self.file = file

    def prove_published(self, terms: list[str], config: object) -> tuple[dict, int, dict, dict]:
        from orchestration.privacy.scan import scan_bytes

        return {}, 0, {str(self.file): scan_bytes(self.file, terms)}, {}

    def probe_published(self, traits: object, config: object) -> list:
        return []

    def proof_notes(self) -> dict[str, str]:
        return {}


def test_a_loader_file_reached_through_a_linked_data_folder_is_scanned_once(tmp_path: Path) -> None:
    """A data folder that is a symbolic link shows the loader's file under a second name: the proof counts
    the file once, under the name the backend scanned it by."""
    import duckdb

    from orchestration.privacy.erase import prove

    real = tmp_path / "disk" / "data"
    (real / "loader").mkdir(parents=True)
    file = real / "loader" / "segment.duckdb"
    duckdb.connect(str(file)).close()
    (tmp_path / "world").mkdir()
    settings = world_settings(tmp_path / "world")
    settings.data_dir.symlink_to(real, target_is_directory=True)
    proof = prove(
        settings,
        ["zed.erasable@example.org"],
        "salt",
        load_config(settings),
        _FileOnlyBackend(file),  # type: ignore[arg-type]
    )
    same = [name for name in proof["hits_per_file"] if Path(name).resolve() == file.resolve()]
    assert same == [str(file)], same
    assert proof["total_hits"] == 0
