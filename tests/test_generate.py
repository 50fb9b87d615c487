"""Tests for the demo-data generator (orchestration.generate)."""

from __future__ import annotations

import re
from pathlib import Path

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from orchestration.generate import PERSON_TABLES, RAW_TABLES, generate

ROOT = Path(__file__).resolve().parents[1]
N = 1500
SEED = 11

_TYPES = {
    "str": pa.string(),
    "ts": pa.timestamp("us"),
    "int": pa.int64(),
    "float": pa.float64(),
    "bool": pa.bool_(),
    "date": pa.date32(),
}
_COLUMN = re.compile(r"^\s*(\w+) (str|ts|int|float|bool|date)\b")


def _split_top_level(text: str) -> list[str]:
    """Split on commas that are not inside parentheses."""
    parts, depth, cur = [], 0, []
    for ch in text:
        if ch == "(":
            depth += 1
        elif ch == ")":
            depth -= 1
        if ch == "," and depth == 0:
            parts.append("".join(cur))
            cur = []
        else:
            cur.append(ch)
    parts.append("".join(cur))
    return parts


def _columns(text: str) -> list[tuple[str, pa.DataType]]:
    out = []
    for token in _split_top_level(text.replace("\n", " ")):
        m = _COLUMN.match(token)
        if m:
            out.append((m.group(1), _TYPES[m.group(2)]))
    return out


def documented_schemas() -> dict[str, list[tuple[str, pa.DataType]]]:
    """Parse docs/raw_schema.md: {"crm.contacts": [(column, type), ...], ...} (truth included)."""
    text = (ROOT / "docs" / "raw_schema.md").read_text()
    sections = re.split(r"^(#{2,3}) (.+)$", text, flags=re.M)
    tables: dict[str, list[tuple[str, pa.DataType]]] = {}
    common: list[tuple[str, pa.DataType]] = []
    for i in range(1, len(sections), 3):
        level, title, body = sections[i], sections[i + 1].strip(), sections[i + 2]
        if level == "##" and "All three tables:" in body:
            common = _columns(body.split("All three tables:", 1)[1])
        elif level == "###":
            body = body.strip()
            cols = _columns(body.lstrip("+"))
            tables[title] = common + cols if body.startswith("+") else cols
    return tables


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict]:
    out = tmp_path_factory.mktemp("gen")
    summary = generate(N, SEED, out)
    return out, summary


@pytest.fixture(scope="module")
def con(world: tuple[Path, dict]) -> duckdb.DuckDBPyConnection:
    out, _ = world
    c = duckdb.connect()
    for name in RAW_TABLES:
        source, table = name.split(".")
        path = out / "raw" / source / f"{table}.parquet"
        c.sql(f"create view {source}_{table} as select * from read_parquet('{path}')")
    c.sql(f"create view truth as select * from read_parquet('{out}/truth/truth.parquet')")
    return c


def _path(out: Path, name: str) -> Path:
    if name == "truth.truth":
        return out / "truth" / "truth.parquet"
    source, table = name.split(".")
    return out / "raw" / source / f"{table}.parquet"


def _one(con: duckdb.DuckDBPyConnection, sql: str) -> float:
    rows = con.execute(sql).fetchall()
    return rows[0][0]


# ------------------------------------------------------------------------------------------ contract
def test_every_documented_table_with_exact_columns_and_types(world: tuple[Path, dict]) -> None:
    out, summary = world
    doc = documented_schemas()
    assert set(doc) == set(RAW_TABLES) | {"truth.truth"}
    for name, cols in doc.items():
        schema = pq.read_schema(_path(out, name))
        assert [(f.name, f.type) for f in schema] == cols, name
        if name != "truth.truth":
            assert summary["tables"][name] == pq.ParquetFile(_path(out, name)).metadata.num_rows
    assert summary["persons"] == N
    assert isinstance(summary["seconds"], float)


def test_volumes_are_plausible(world: tuple[Path, dict]) -> None:
    t = world[1]["tables"]
    events = t["events.tracks"] + t["events.pages"] + t["events.identifies"] + t["esp.email_events"]
    assert 6 * N <= events <= 15 * N
    assert 0.3 * N <= t["crm.contacts"] <= 0.6 * N
    assert 0.45 * N <= t["shop.customers"] <= 0.75 * N
    assert t["pos.stores"] >= 15
    assert t["reference.weather_daily"] == 8 * 1035  # 8 regions x 2024-01-01..2026-10-31


# ------------------------------------------------------------------------------------------ determinism
def test_same_seed_same_data_other_seed_other_data(tmp_path: Path) -> None:
    a, b, c = tmp_path / "a", tmp_path / "b", tmp_path / "c"
    generate(400, 5, a)
    generate(400, 5, b)
    generate(400, 6, c)
    differs = 0
    for name in RAW_TABLES + ["truth.truth"]:
        ta, tb, tc = (pq.read_table(_path(d, name)) for d in (a, b, c))
        assert ta.equals(tb), name
        assert _path(a, name).read_bytes() == _path(b, name).read_bytes(), name
        differs += not ta.equals(tc)
    assert differs >= len(RAW_TABLES) - 1  # only the fixed holiday list may coincide


# ------------------------------------------------------------------------------------------ truth
def test_truth_covers_every_person_record(con: duckdb.DuckDBPyConnection) -> None:
    assert _one(con, "select count(*) - count(distinct (table_name, record_id)) from truth") == 0
    # Only the trade-fair sheet brings people from outside the world (new visitors).
    assert (
        _one(
            con,
            f"select count(*) from truth where person_id not between 1 and {N} and source <> 'trade_fair'",
        )
        == 0
    )
    for name, key in PERSON_TABLES.items():
        source, table = name.split(".")
        missing = _one(
            con,
            f"""select count(*) from (select distinct {key}::varchar k from {source}_{table}
                                where {key} is not null) r
                                anti join (select record_id from truth where source = '{source}'
                                           and table_name = '{table}') t on t.record_id = r.k""",
        )
        extra = _one(
            con,
            f"""select count(*) from truth t where source = '{source}' and table_name = '{table}'
                              and record_id not in (select {key}::varchar from {source}_{table}
                                                    where {key} is not null)""",
        )
        assert missing == 0 and extra == 0, name


def test_trade_fair_sheet_is_in_the_truth(world: tuple[Path, dict], con: duckdb.DuckDBPyConnection) -> None:
    out, _ = world
    sheet = out / "sources" / "trade_fair" / "visitors_2026.csv"
    con.sql(
        f"create or replace view fair as select * from read_csv('{sheet}', all_varchar = true, ignore_errors = true)"
    )
    truth = "select * from truth where source = 'trade_fair' and table_name = 'visitors_2026'"
    # Every truth row is a visitor number on the sheet, and each appears once.
    assert (
        _one(con, f'select count(*) from ({truth}) t anti join fair on fair."Visitor No" = t.record_id') == 0
    )
    assert _one(con, f"select count(*) - count(distinct record_id) from ({truth})") == 0
    # Most visitors are people of the world; the rest are new people with ids of their own.
    known = _one(con, f"select count(*) from ({truth}) where person_id between 1 and {N}")
    new = _one(con, f"select count(*) from ({truth}) where person_id > {N}")
    assert known > 3 * new > 0
    # The spoiled rows get no truth row: every distinct visitor number but the scanner test row.
    numbered = _one(con, 'select count(distinct "Visitor No") from fair where "Visitor No" is not null')
    assert _one(con, f"select count(*) from ({truth})") == numbered - 1


def test_shop_identity_is_consistent_with_truth(con: duckdb.DuckDBPyConnection) -> None:
    # An identify's user_id is the customer_id of the same person (the kiosk included).
    bad = _one(
        con,
        """select count(*) from events_identifies i
        join truth ti on ti.table_name = 'identifies' and ti.record_id = i.id
        join truth tc on tc.table_name = 'customers' and tc.record_id = i.user_id
        where ti.person_id <> tc.person_id""",
    )
    assert bad == 0
    # Persons use several devices: some user_ids are identified from more than one anonymous_id.
    assert (
        _one(
            con,
            """select count(*) from (select user_id from events_identifies where user_id is not null
        and context_device_type <> 'kiosk' group by 1 having count(distinct anonymous_id) > 1)""",
        )
        > 0
    )


# ------------------------------------------------------------------------------------------ noise
def test_noise_is_present_at_roughly_documented_rates(con: duckdb.DuckDBPyConnection) -> None:
    junk = "('test@test.com', 'asdf@asdf.com', 'n/a', 'unknown', '', 'x@x.com', 'none@none.com', 'NA')"
    rate = _one(
        con,
        f"select avg((email in {junk} or email like 'noreply@%' or email like 'no-reply@%')::int) "
        "from shop_customers",
    )
    assert 0.002 < rate < 0.04
    assert _one(con, "select count(*) from shop_customers where email like '%+%@gmail.com'") > 0
    assert _one(con, "select count(*) from shop_customers where email <> trim(email)") > 0
    assert _one(con, "select count(*) from crm_contacts where email <> lower(email)") > 0
    # duplicate deliveries ~1.5% of events, late arrivals ~1%, clock errors ~0.1%
    dup = _one(con, "select 1 - count(distinct id) / count(id) from events_tracks")
    assert 0.005 < dup < 0.03
    late = _one(
        con,
        """select avg((received_at > timestamp + interval 1 day
                        and timestamp between '2024-01-01' and '2027-01-01')::int) from events_tracks""",
    )
    assert 0.002 < late < 0.03
    assert (
        _one(
            con,
            "select count(*) from events_tracks where timestamp < '2000-01-01' or timestamp > '2090-01-01'",
        )
        > 0
    )
    # malformed timestamp strings in exported files (~0.2%)
    for table, col in (
        ("crm_contacts", "created_at"),
        ("pos_transactions", "transacted_at"),
        ("support_tickets", "created_at"),
    ):
        bad = _one(
            con,
            f"""select avg((try_cast(replace(replace({col}, 'T', ' '), 'Z', '') as timestamp)
                            is null)::int) from {table}""",
        )
        assert 0 < bad < 0.02, table
    # phones in local, national and international formats
    for pattern in ("+44 %", "0044 %", "07% %", "+48%", "+49 %"):
        assert _one(con, f"select count(*) from crm_contacts where phone like '{pattern}'") > 0, pattern


def test_kiosk_and_shared_identifiers(con: duckdb.DuckDBPyConnection) -> None:
    most = _one(
        con,
        """select max(n) from (select e.anonymous_id, count(distinct t.person_id) n
        from events_tracks e join truth t on t.table_name = 'tracks' and t.record_id = e.id
        where e.context_device_type = 'kiosk' group by 1)""",
    )
    assert most >= 20
    # a household inbox / phone used by several persons
    shared = _one(
        con,
        """select count(*) from (select lower(trim(email)) e from shop_customers c
        join truth t on t.table_name = 'customers' and t.record_id = c.customer_id::varchar
        where email like '%@%' group by 1 having count(distinct t.person_id) > 1)""",
    )
    assert shared > 0


def test_anonymous_product_added_before_identify(con: duckdb.DuckDBPyConnection) -> None:
    n = _one(
        con,
        """select count(*) from events_tracks a join events_identifies i
        on a.anonymous_id = i.anonymous_id and a.timestamp < i.timestamp
        where a.event = 'product_added' and a.user_id is null and i.user_id is not null
        and a.context_device_type <> 'kiosk'""",
    )
    assert n > 0


# ------------------------------------------------------------------------------------------ business logic
def test_order_totals_match_items(con: duckdb.DuckDBPyConnection) -> None:
    bad = _one(
        con,
        """select count(*) from shop_orders o join (select order_id, sum(quantity * price) s
        from shop_order_items group by 1) i using (order_id)
        where abs(o.subtotal_price - i.s) > 0.005
           or abs(o.total_price - (i.s - o.total_discounts)) > 0.005""",
    )
    assert bad == 0
    assert (
        _one(
            con,
            "select count(*) from shop_orders where order_id not in (select order_id from shop_order_items)",
        )
        == 0
    )
    # order_completed tracks reference real online orders with the right revenue
    assert (
        _one(
            con,
            """select count(*) from events_tracks t left join shop_orders o using (order_id)
        where t.event = 'order_completed' and (o.order_id is null or o.channel <> 'online'
        or abs(o.total_price - t.revenue) > 0.005)""",
        )
        == 0
    )


def test_planted_seasonality_and_reference(con: duckdb.DuckDBPyConnection) -> None:
    # match tickets are bought for home games of the season (August to mid-May): never in June
    assert (
        _one(
            con,
            """select count(*) from shop_orders o join shop_order_items i using (order_id)
        where i.category = 'event_tickets' and month(o.created_at) = 6""",
        )
        == 0
    )
    assert _one(con, "select count(*) from shop_order_items where category = 'event_tickets'") > 0
    assert _one(con, "select count(distinct country) from reference_public_holidays") == 3
    assert (
        _one(
            con,
            "select count(*) from (select weather_date, region from reference_weather_daily "
            "group by all having count(*) > 1)",
        )
        == 0
    )
