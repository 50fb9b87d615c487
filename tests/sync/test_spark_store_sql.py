"""The Spark sync store's SQL without Spark (orchestration/sync/stores/spark.py; docs/spark.md, "Syncs on
Spark"): the entries an INSERT appends and the "latest complete commit" reading, run on DuckDB (the SQL is
portable but for backquotes and Spark's `unbase64`, which a macro stands in for). Seconds; the same SQL
runs on a real cluster in tests/test_spark_sync.py."""

from __future__ import annotations

import base64
import json
import re
from datetime import datetime

import duckdb
import pytest

from orchestration.sync.stores.spark import (
    Entry,
    as_text,
    create_entries_sql,
    current_rows_sql,
    insert_sql,
    plain,
    text_literal,
    view_sql,
)

DB = "tessera_sync"
T0 = datetime(2026, 1, 1, 12, 0, 0)


def duck_sql(sql: str) -> str:
    return sql.replace("`", '"').replace(" using parquet", "")


@pytest.fixture
def conn() -> duckdb.DuckDBPyConnection:
    con = duckdb.connect()
    con.execute("create macro unbase64(x) as decode(from_base64(x))")
    con.execute(f"create schema {DB}")
    con.execute(duck_sql(create_entries_sql(DB)))
    return con


def append(
    con: duckdb.DuckDBPyConnection, commit: str, seq: int, entries: list[Entry], *, only: int | None = None
) -> None:
    """Append a commit of `entries`; with `only`, just its first `only` rows landed (cut short)."""
    landed = entries if only is None else entries[:only]
    con.execute(duck_sql(insert_sql(DB, commit, seq, T0, landed, 0, len(entries))))


def current(
    con: duckdb.DuckDBPyConnection, table: str, sync_name: str | None = "s"
) -> dict[str | None, dict]:
    sql = duck_sql(current_rows_sql(DB, [(table, sync_name)]))
    rows = [json.loads(r) for (t, r) in con.execute(sql).fetchall() if t == table]
    return {row.get("key"): row for row in rows}


def state(key: str, payload: str) -> Entry:
    return Entry("state", "s", key, {"key": key, "payload": payload, "status": "synced", "attempts": 0})


def test_text_literals_survive_quotes_backslashes_and_unicode(conn: duckdb.DuckDBPyConnection) -> None:
    hostile = "O'Brien \\s+ \"quoted\" ${x} ' -- ; é 🙂"
    literal = text_literal(hostile)
    assert "'" not in literal.split("'", 2)[1]  # only base64 inside the quotes
    assert re.fullmatch(r"cast\(unbase64\('[A-Za-z0-9+/=]*'\) as string\)", literal)
    assert base64.b64decode(literal.split("'")[1]).decode() == hostile
    assert conn.execute(f"select {literal}").fetchone() == (hostile,)
    assert text_literal(None) == "cast(null as string)"


def test_values_are_kept_as_text() -> None:
    assert as_text(True) == "true" and as_text(False) == "false"
    assert as_text(datetime(2026, 1, 2, 3, 4, 5, 6)) == "2026-01-02 03:04:05.000006"
    assert as_text(7) == "7" and as_text(None) is None


def test_the_latest_complete_commit_wins_and_tombstones_remove(conn: duckdb.DuckDBPyConnection) -> None:
    append(conn, "a", 1, [state("k1", "p1"), state("k2", "p2"), state("k3", "p3")])
    append(conn, "b", 2, [state("k1", "p1b"), Entry("state", "s", "k2", None)])
    rows = current(conn, "state")
    assert {k: r["payload"] for k, r in rows.items()} == {"k1": "p1b", "k3": "p3"}
    # another sync's rows, and another table's, are apart
    append(conn, "c", 3, [Entry("state", "other", "k1", {"key": "k1", "payload": "x"})])
    assert current(conn, "state")["k1"]["payload"] == "p1b"
    assert current(conn, "state", "other")["k1"]["payload"] == "x"
    # several tables in one query, each row tagged with its table
    sql = duck_sql(current_rows_sql(DB, [("state", "s"), ("state", "other")]))
    assert sorted(t for t, _ in conn.execute(sql).fetchall()) == ["state"] * 3


def test_a_commit_cut_short_counts_for_nothing(conn: duckdb.DuckDBPyConnection) -> None:
    append(conn, "a", 1, [state("k1", "p1"), state("k2", "p2")])
    # the second commit's tombstone for k1 landed, its new k2 did not: neither counts
    append(conn, "b", 2, [Entry("state", "s", "k1", None), state("k2", "p2b")], only=1)
    assert {k: r["payload"] for k, r in current(conn, "state").items()} == {"k1": "p1", "k2": "p2"}
    # the rest of it lands (a commit appended in several statements): now it counts whole
    conn.execute(duck_sql(insert_sql(DB, "b", 2, T0, [state("k2", "p2b")], 1, 2)))
    assert {k: r["payload"] for k, r in current(conn, "state").items()} == {"k2": "p2b"}


def test_completeness_counts_every_table_of_a_commit(conn: duckdb.DuckDBPyConnection) -> None:
    """A commit writes state and the record log together; one of them missing voids both."""
    log_row = {"sync_name": "s", "key": "k1", "operation": "upsert", "status": "succeeded"}
    entries = [state("k1", "p1"), Entry("sync_record_log", "s", None, log_row)]
    append(conn, "a", 1, entries, only=1)
    assert current(conn, "state") == {} and current(conn, "sync_record_log") == {}
    conn.execute(duck_sql(insert_sql(DB, "a", 1, T0, entries[1:], 1, 2)))
    assert set(current(conn, "state")) == {"k1"} and set(current(conn, "sync_record_log")) == {"k1"}


def test_an_entry_appended_twice_counts_once(conn: duckdb.DuckDBPyConnection) -> None:
    log_row = {"sync_name": "s", "key": "k1", "operation": "upsert", "status": "succeeded"}
    entries = [Entry("sync_record_log", "s", None, log_row), Entry("sync_record_log", "s", None, log_row)]
    append(conn, "a", 1, entries)
    append(conn, "a", 1, entries)  # the same statement, landed again
    rows = conn.execute(duck_sql(current_rows_sql(DB, [("sync_record_log", "s")]))).fetchall()
    assert len(rows) == 2  # both of the commit's rows, each once


def test_the_analysts_view_types_the_columns(conn: duckdb.DuckDBPyConnection) -> None:
    conn.execute("create macro get_json_object(j, p) as json_extract_string(j, p)")
    append(
        conn,
        "a",
        1,
        [
            Entry(
                "state",
                "s",
                "k1",
                {
                    "key": "k1",
                    "attempts": 2,
                    "last_sent_at": datetime(2026, 1, 2, 3, 4, 5),
                    "status": "synced",
                },
            )
        ],
    )
    columns = [
        ("key", "VARCHAR"),
        ("attempts", "INTEGER"),
        ("last_sent_at", "TIMESTAMP"),
        ("status", "VARCHAR"),
    ]
    sql = duck_sql(view_sql(DB, "state__s", "state", columns, "s")).replace("as string)", "as varchar)")
    sql = sql.replace(" as int)", " as integer)")
    conn.execute(sql)
    assert conn.execute(f"select * from {DB}.state__s").fetchall() == [
        ("k1", 2, datetime(2026, 1, 2, 3, 4, 5), "synced")
    ]


def test_names_are_checked() -> None:
    assert plain("state__my_sync") == "state__my_sync"
    for bad in ("a-b", "a b", "a`b", "a'b", ""):
        with pytest.raises(ValueError):
            plain(bad)
