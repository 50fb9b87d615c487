"""A raw file is a whole snapshot of its system, loaded again at every build. A row whose content the raw
table already held keeps the time it was first loaded (`_loaded_at`), and only new or changed rows get the
new load's time, so the incremental staging and marts that read load times place only those (issue #16)."""

from __future__ import annotations

import time
from datetime import datetime

import pyarrow as pa
import pytest

from orchestration.settings import Settings
from orchestration.warehouse.registry import get_warehouse
from tests.test_raw_contract import _contacts, _publish_without_dbt, _write, world  # noqa: F401 (a fixture)


def _stamps(settings: Settings) -> list[tuple[str, str, datetime]]:
    """(contact_id, email, _loaded_at) of every row of raw_crm.contacts as readers see it."""
    sql = "select contact_id, email, _loaded_at from raw_crm.contacts order by contact_id, email, _loaded_at"
    if settings.target == "duckdb":
        import duckdb

        con = duckdb.connect(str(settings.published_db), read_only=True)
        try:
            return con.execute(sql).fetchall()
        finally:
            con.close()
    import psycopg2

    con = psycopg2.connect(**settings.postgres.connect_kwargs())
    try:
        with con.cursor() as cur:
            cur.execute(sql)
            return cur.fetchall()
    finally:
        con.close()


def _load(settings: Settings, table: pa.Table) -> list[tuple[str, str, datetime]]:
    warehouse = get_warehouse(settings)
    _write(settings.raw_dir, table)
    warehouse.prepare_build()
    warehouse.load_raw(settings.raw_dir)
    _publish_without_dbt(settings)
    time.sleep(0.01)  # the next load's clock is later
    return _stamps(settings)


def _with(table: pa.Table, column: str, values: list) -> pa.Table:
    return table.set_column(table.schema.get_field_index(column), column, pa.array(values))


@pytest.mark.parametrize("world", ["duckdb", "postgres"], indirect=True)
def test_rows_loaded_before_keep_their_load_time(world: Settings) -> None:  # noqa: F811 (the fixture)
    first = _load(world, _contacts())
    assert len(first) == 3 and len({stamp for _, _, stamp in first}) == 1
    then = first[0][2]

    # The same snapshot again: nothing is new.
    assert _load(world, _contacts()) == first

    # One row changed and one new: those two are new. A further copy of a row held before adds nothing
    # an incremental model could place, and keeps that row's time.
    contacts = _contacts()
    changed = _with(contacts, "email", ["a@example.com", "b.new@example.com", "c@example.com"])
    grown = pa.concat_tables(
        [changed, contacts.slice(0, 1), _with(contacts.slice(2, 1), "contact_id", ["new"])]
    )
    second = _load(world, grown)
    assert len(second) == 5
    new = [(contact, email) for contact, email, stamp in second if stamp != then]
    assert new == [("contact_id-1", "b.new@example.com"), ("new", "c@example.com")]
    assert len({stamp for _, _, stamp in second if stamp != then}) == 1 and second[2][2] > then

    # A new column: a row is the same where the new column is empty, and new where it holds a value.
    third = _load(world, grown.append_column("lead_source", pa.array([None, None, "fair", None, None])))
    moved = [row[:2] for row, before in zip(third, second, strict=True) if row[2] != before[2]]
    assert moved == [("contact_id-2", "c@example.com")]


@pytest.mark.parametrize("world", ["duckdb"], indirect=True)
def test_a_column_whose_type_changed_is_compared_as_the_file_has_it(world: Settings) -> None:  # noqa: F811
    contacts = _contacts().append_column("score", pa.array(["1", "2", "x"]))
    first = _load(world, contacts)
    # The file now types `score` as a number: rows whose value reads the same keep their time.
    second = _load(world, _with(contacts, "score", [1, 2, 3]))
    moved = [row[:2] for row, before in zip(second, first, strict=True) if row[2] != before[2]]
    assert moved == [("contact_id-2", "c@example.com")]


PEOPLE = """\
person_sources:
  - name: visitors
    file: people.csv
    record_id: Person Id
    fields:
      first_name: First Name
      email: E-mail
    external_ids:
      member_no: Member No
"""


def _people(folder, rows: list[str]) -> Settings:
    """A declared CSV person source (people.csv, `rows` its lines after the header) and the settings
    that declare it."""
    (folder / "person_sources.yml").write_text(PEOPLE)
    (folder / "people.csv").write_text(
        "Person Id,First Name,E-mail,Member No\n" + "".join(f"{r}\n" for r in rows)
    )
    return Settings.from_env(
        {
            "TESSERA_DATA_DIR": str(folder / "data"),
            "TESSERA_PERSON_SOURCES": str(folder / "person_sources.yml"),
        }
    )


def _landed(cur) -> list[tuple]:  # type: ignore[no-untyped-def]
    """Every landed row's (table, record, content, _loaded_at), records then external ids."""
    cur.execute(
        "select 'records', record_id, email, _loaded_at from raw_person_sources.records union all "
        "select 'external_ids', record_id, identifier_value, _loaded_at from raw_person_sources.external_ids "
        "order by 1, 2, 3"
    )
    return cur.fetchall()


@pytest.mark.parametrize("target", ["duckdb", "postgres"])
def test_person_source_rows_landed_before_keep_their_load_time(target, tmp_path, monkeypatch) -> None:
    """A declared person source is landed again at every build; a row whose content was landed before
    keeps the time it first was (so does its external id), as a raw file's row does. Where a row sits in
    the file, and when the file was saved, are not its content."""
    import duckdb

    from orchestration.person_sources import load

    clock = iter(datetime(2026, 12, day) for day in range(1, 10))
    monkeypatch.setattr(load, "_now", lambda: next(clock))
    if target == "duckdb":
        con = duckdb.connect()

        def land(settings: Settings) -> list[tuple]:
            load.load_duckdb(con, settings)
            return _landed(con)
    else:
        import psycopg2

        from tests.conftest import TEST_PG_DATABASE, require_postgres

        require_postgres()
        con = psycopg2.connect(host="127.0.0.1", port=5432, user="postgres", dbname=TEST_PG_DATABASE)
        with con.cursor() as cur:
            cur.execute("drop schema if exists raw_person_sources cascade")
        con.commit()

        def land(settings: Settings) -> list[tuple]:
            load.load_postgres(con, settings)
            con.commit()
            with con.cursor() as cur:
                return _landed(cur)

    try:
        first = land(_people(tmp_path, ["P1,Ann,ann@example.com,M1", "P2,Bob,bob@example.com,"]))
        assert {stamp for *_, stamp in first} == {datetime(2026, 12, 1)}
        # The same people again, in another order and saved again: nothing is new.
        assert land(_people(tmp_path, ["P2,Bob,bob@example.com,", "P1,Ann,ann@example.com,M1"])) == first
        # Bob's address changed and Cy is new: those rows (and Cy's member number) take the third load's time.
        third = land(
            _people(
                tmp_path,
                ["P1,Ann,ann@example.com,M1", "P2,Bob,bob@new.example.com,", "P3,Cy,cy@example.com,M3"],
            )
        )
        assert [row[:3] for row in third if row[3] == datetime(2026, 12, 3)] == [
            ("external_ids", "P3", "M3"),
            ("records", "P2", "bob@new.example.com"),
            ("records", "P3", "cy@example.com"),
        ]
        assert {row[3] for row in third if row[3] != datetime(2026, 12, 3)} == {datetime(2026, 12, 1)}
    finally:
        con.close()
