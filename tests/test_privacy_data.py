"""Privacy data: the masked schema, consent at send, and retention (docs/privacy_data.md)."""

from __future__ import annotations

import datetime as dt
import json
import re
import shutil

import duckdb
import pytest
from dagster import AssetKey

from tests.conftest import TEST_PG_DATABASE

# Column names that say "this is about a person"; a mart column named like this must be tagged pii.
PERSONAL = re.compile(
    r"(^|_)(email|phone|first_name|last_name|full_name|street|address|postcode|zip|"
    r"date_of_birth|dob|birth_date|ip|ip_address|anonymous_id|user_id|device_id|identifier_value|"
    r"identifier_value_a|identifier_value_b|user_agent|raw_record)$"
    r"|^(name|requester_name|customer_name|contact_name|person_name)$"
    # External ids: a record's id in its source system (a CRM contact, a shop customer, a consent
    # decision) leads back to the person there.
    r"|(^|_)(record_id|linked_record|consent_event_id|contact_id|crm_contact_id|shop_customer_id|"
    r"loyalty_card|loyalty_card_number|external_id)$"
)
NOT_PERSONAL = re.compile(r"^(email_source|phone_source)$")
MASKED_LAYERS = ("marts", "audiences")


def _manifest(settings) -> dict:
    return json.loads((settings.project_dir / "target" / "manifest.json").read_text())


def _public_models(manifest: dict) -> dict[str, dict]:
    return {
        node["alias"]: node
        for node in manifest["nodes"].values()
        if node["resource_type"] == "model" and len(node["fqn"]) > 2 and node["fqn"][1] in MASKED_LAYERS
    }


def _columns(con, schema: str, table: str) -> list[tuple[str, str]]:
    return con.execute(
        "select column_name, data_type from information_schema.columns "
        "where table_schema = ? and table_name = ? order by ordinal_position",
        [schema, table],
    ).fetchall()


# ---------------------------------------------------------------- PII: the masked schema (DuckDB)


@pytest.fixture(scope="module")
def published_con(published, settings):
    con = duckdb.connect(str(settings.published_db), read_only=True)
    yield con
    con.close()


def test_every_personal_looking_mart_column_is_tagged(published_con, settings):
    """A mart column named like personal data (email, phone, name, street, postcode, ip, …) must carry
    meta pii in its model's YAML; booleans (consented_to_email) describe, they do not identify."""
    untagged = []
    for name, node in _public_models(_manifest(settings)).items():
        for column, data_type in _columns(published_con, "main", name):
            if data_type == "BOOLEAN" or NOT_PERSONAL.match(column) or not PERSONAL.search(column):
                continue
            meta = (node["columns"].get(column) or {}).get("meta") or {}
            if not meta.get("pii"):
                untagged.append(f"{name}.{column}")
    assert not untagged, f"personal-looking columns without meta pii: {untagged}"


def test_masked_schema_hashes_and_redacts_every_tagged_column(published_con, settings):
    models = _public_models(_manifest(settings))
    views = {v for (v,) in published_con.execute(
        "select view_name from duckdb_views() where schema_name = 'masked'"
    ).fetchall()}  # fmt: skip
    assert views == set(models), "one masked view per mart and audience model"
    checked = 0
    for name, node in models.items():
        raw_columns = [c for c, _ in _columns(published_con, "main", name)]
        assert [c for c, _ in _columns(published_con, "masked", name)] == raw_columns
        n_raw = published_con.execute(f'select count(*) from main."{name}"').fetchone()[0]
        assert published_con.execute(f'select count(*) from masked."{name}"').fetchone()[0] == n_raw
        for column in raw_columns:
            meta = (node["columns"].get(column) or {}).get("meta") or {}
            if not meta.get("pii"):
                continue
            masking = meta.get("masking", "hash")
            values = published_con.execute(
                f'select cast(r."{column}" as varchar), m."{column}" '
                f'from (select row_number() over () as n, "{column}" from main."{name}") as r '
                f'inner join (select row_number() over () as n, "{column}" from masked."{name}") as m '
                "on r.n = m.n where r.n <= 200"
            ).fetchall()
            for raw, masked in values:
                if raw is None:
                    assert masked is None
                elif masking == "redact":
                    assert masked == "[redacted]"
                else:
                    assert re.fullmatch(r"[0-9a-f]{32}", masked) and masked != raw
                checked += 1
    assert checked > 1000


def test_masked_hashes_are_salted_and_join_across_views(published_con):
    """The same email, and the same customer id, hash the same in every view (analysts can still join and
    count), but not to their plain md5, and the salt is not written into any view's SQL."""
    row = published_con.execute(
        """
        select c.email, mc.email, mi.identifier_value
        from main.customers as c
        inner join masked.customers as mc
            on md5(concat((select salt from main.privacy_masking_salt), c.customer_id)) = mc.customer_id
        inner join masked.customer_identifiers as mi
            on mi.customer_id = mc.customer_id and mi.identifier_type = 'email'
        inner join main.customer_identifiers as ci
            on ci.customer_id = c.customer_id and ci.identifier_type = 'email'
            and ci.identifier_value = c.email
            and md5(concat((select salt from main.privacy_masking_salt), ci.identifier_value)) = mi.identifier_value
        where c.email is not null
        limit 1
        """
    ).fetchone()
    email, masked_email, masked_identifier = row
    assert masked_email == masked_identifier
    assert masked_email != published_con.execute("select md5(?)", [email]).fetchone()[0]
    salt = published_con.execute("select salt from main.privacy_masking_salt").fetchone()[0]
    definitions = " ".join(
        sql
        for (sql,) in published_con.execute(
            "select sql from duckdb_views() where schema_name = 'masked'"
        ).fetchall()
    )
    assert "privacy_masking_salt" in definitions and salt not in definitions


def test_masked_file_holds_only_the_masked_rows(published_con, settings, tmp_path):
    """On DuckDB the real boundary is a file: the masked file has the masked views' rows and nothing
    else (no raw schema, no model, no salt)."""
    from orchestration.privacy.masking import export_masked_file

    counts = export_masked_file(settings.published_db, tmp_path / "tessera_masked.duckdb")
    con = duckdb.connect(str(tmp_path / "tessera_masked.duckdb"), read_only=True)
    tables = con.execute("select schema_name, table_name from duckdb_tables() order by 2").fetchall()
    assert {schema for schema, _ in tables} == {"masked"}
    assert {name for _, name in tables} == set(counts) and "privacy_masking_salt" not in counts
    assert con.execute("select count(*) from duckdb_views() where not internal").fetchone()[0] == 0
    for name, rows in counts.items():
        assert rows == published_con.execute(f'select count(*) from masked."{name}"').fetchone()[0]
    sample = con.execute(
        "select customer_id, email from masked.customers order by customer_id limit 50"
    ).fetchall()
    assert (
        sample
        == published_con.execute(
            "select customer_id, email from masked.customers order by customer_id limit 50"
        ).fetchall()
    )
    con.close()


def test_masked_file_shows_no_external_record_id_in_clear(published_con, settings, tmp_path):
    """The CRM, shop and consent ids of person records, the order and event ids, and Tessera's own customer
    ids (computable from a founding identifier) are hashed like other pii columns (issue 12)."""
    from orchestration.privacy.masking import export_masked_file

    path = tmp_path / "tessera_masked.duckdb"
    export_masked_file(settings.published_db, path)
    con = duckdb.connect(str(path), read_only=True)
    try:
        checked = 0
        for table, column in (
            ("customer_source_records", "record_id"),
            ("identity_links", "record_id"),
            ("identity_links", "linked_record"),
            ("identity_unresolved_records", "record_id"),
            ("quarantined_rows", "record_id"),
            ("consent_history", "consent_event_id"),
            ("consent_current", "consent_event_id"),
            # Source record ids hashed by name (record_id_columns), without a YAML tag.
            ("orders", "order_id"),
            ("order_items", "order_item_id"),
            ("order_items", "order_id"),
            ("events", "event_id"),
            # Customer ids, by name (customer_id_column), in every view that has one.
            ("customers", "customer_id"),
            ("customer_identifiers", "customer_id"),
            ("identity_links", "customer_id"),
            ("events", "customer_id"),
            ("orders", "customer_id"),
            ("audience_memberships", "customer_id"),
            ("consent_current", "customer_id"),
        ):
            clear = {
                v
                for (v,) in published_con.execute(
                    f'select distinct cast("{column}" as varchar) from main."{table}" where "{column}" is not null'
                ).fetchall()
            }
            shown = {
                v for (v,) in con.execute(f'select distinct "{column}" from masked."{table}"').fetchall()
            }
            assert clear, (table, column)
            assert not clear & shown, f"{table}.{column} shows ids in clear"
            assert all(v is None or re.fullmatch(r"[0-9a-f]{32}", v) for v in shown), (table, column)
            checked += 1
        assert checked == 18
        # Nor inside any other text column (a JSON explanation, a reason quoting an id), in any table.
        shown_in_clear = {}
        for table, column in con.execute(
            "select table_name, column_name from information_schema.columns "
            "where table_schema = 'masked' and data_type in ('VARCHAR', 'JSON')"
        ).fetchall():
            (count,) = con.execute(
                f'select count(*) from masked."{table}" where regexp_matches(cast("{column}" as varchar), \'cus_[0-9a-f]{{16}}\')'
            ).fetchone()
            if count:
                shown_in_clear[f"{table}.{column}"] = count
        assert not shown_in_clear, shown_in_clear
        [(ids,)] = published_con.execute(
            "select count(*) from main.customers where regexp_matches(customer_id, '^cus_[0-9a-f]{16}$')"
        ).fetchall()
        assert ids > 1000, "the published ids have the shape searched for"
    finally:
        con.close()


# ---------------------------------------------------------------- Consent at send


@pytest.fixture(scope="module")
def demo_sync_history(published, settings, tmp_path_factory):
    """The demo sync run once into its own state and history files (the session's are left to test_syncs)."""
    from orchestration.sync.engine import run_sync
    from orchestration.sync.project import find_sync

    root = tmp_path_factory.mktemp("consent")
    config = find_sync(settings, "customer_export")
    destination = config.destination.model_copy(update={"directory": str(root / "exports")})
    config = config.model_copy(update={"destination": destination})
    result = run_sync(
        config, settings.published_db, root / "state.duckdb", publish_to=root / "history.duckdb"
    )
    assert result.ok and result.counts()["succeeded"] > 0
    return root / "history.duckdb", result


def test_every_record_sent_by_the_demo_sync_had_valid_consent(demo_sync_history, settings):
    from orchestration.consent.audit import audit_consent_at_send

    history, result = demo_sync_history
    audit = audit_consent_at_send(settings.published_db, history, customer_keyed_syncs=["customer_export"])
    assert audit.sends == result.counts()["succeeded"]
    assert audit.invalid == []
    assert audit.verdicts() == {"valid": audit.sends}
    for row in audit.rows:
        assert row["consent_row_id"] and row["consent_customer_id"] == row["record_key"]
        assert row["consent_valid_from"] <= row["sent_at"]
        assert row["consent_valid_to"] is None or row["sent_at"] < row["consent_valid_to"]


def test_forged_withdrawn_and_expired_consent_is_not_valid(demo_sync_history, settings, tmp_path):
    from orchestration.consent.audit import audit_consent_at_send

    history = tmp_path / "history.duckdb"
    shutil.copyfile(demo_sync_history[0], history)
    wh = duckdb.connect(str(settings.published_db), read_only=True)
    withdrawn = wh.execute(
        "select customer_id, consent_purpose, consent_event_id, valid_from from consent_history "
        "where consent_status = 'withdrawn' limit 1"
    ).fetchone()
    replaced = wh.execute(
        "select customer_id, consent_purpose, consent_event_id, valid_to from consent_history "
        "where consent_status = 'granted' and valid_to is not null limit 1"
    ).fetchone()
    granted = wh.execute(
        "select customer_id, consent_event_id, valid_from from consent_history "
        "where consent_status = 'granted' and consent_purpose = 'email_marketing' and is_current limit 2"
    ).fetchall()
    wh.close()
    assert withdrawn and replaced and len(granted) == 2
    second = dt.timedelta(seconds=1)
    forged = [
        # (key, basis, sent_at, expected verdict)
        (withdrawn[0], f"granted:{withdrawn[1]}:{withdrawn[2]}", withdrawn[3] + second, "not a grant"),
        (
            replaced[0],
            f"granted:{replaced[1]}:{replaced[2]}",
            replaced[3] + second,
            "after the grant was replaced",
        ),
        (granted[0][0], "granted:email_marketing:ce_forged", granted[0][2] + second, "not found"),
        (
            granted[1][0],
            f"granted:email_marketing:{granted[0][1]}",
            granted[0][2] + second,
            "another customer",
        ),
        (
            granted[0][0],
            f"granted:email_marketing:{granted[0][1]}",
            granted[0][2] - second,
            "before the grant",
        ),
        (granted[0][0], f"granted:sms_marketing:{granted[0][1]}", granted[0][2] + second, "another purpose"),
        (granted[0][0], "granted:email_marketing", granted[0][2] + second, "no consent row recorded"),
    ]
    con = duckdb.connect(str(history))
    for i, (key, basis, sent_at, _) in enumerate(forged):
        con.execute(
            "insert into sync_record_log values ('customer_export', 'forged', ?, 'upsert', 'succeeded', "
            "null, ?, ?, ?)",
            [key, basis, f"forged-{i}", sent_at],
        )
    con.close()
    audit = audit_consent_at_send(settings.published_db, history, customer_keyed_syncs=["customer_export"])
    by_run = [row for row in audit.rows if row["run_id"] == "forged"]
    assert len(by_run) == len(forged)
    verdicts = {row["consent_basis"] + "@" + str(row["sent_at"]): row for row in by_run}
    for key, basis, sent_at, expected in forged:
        row = verdicts[basis + "@" + str(sent_at)]
        assert row["record_key"] == key
        assert row["is_sent_without_valid_consent"] and not row["is_consent_valid"], row
        assert expected in row["verdict"], (expected, row["verdict"])
    assert len(audit.invalid) == len(forged)


def test_consent_audit_names_a_missing_file(tmp_path):
    from orchestration.consent.audit import ConsentAuditError, audit_consent_at_send

    with pytest.raises(ConsentAuditError, match="no published warehouse"):
        audit_consent_at_send(
            tmp_path / "absent.duckdb", tmp_path / "missing.duckdb", customer_keyed_syncs=[]
        )
    duckdb.connect(str(tmp_path / "w.duckdb")).close()
    with pytest.raises(ConsentAuditError, match="no sync history"):
        audit_consent_at_send(tmp_path / "w.duckdb", tmp_path / "missing.duckdb", customer_keyed_syncs=[])


# ---------------------------------------------------------------- Retention: the engine on a tiny table


def _policy(schema: str | None = None):
    from orchestration.retention.config import Policy

    return Policy.model_validate(
        {
            "source": "web",
            "table": "pages",
            **({"schema": schema} if schema else {}),
            "clock": "received_at",
            "keep_days": 10,
            "aggregate": {
                "group_by": ["anonymous_id"],
                "measures": {
                    "page_views": {"kind": "count"},
                    "distinct_paths": {"kind": "count_distinct", "column": "path"},
                    "checkout_views": {"kind": "count", "where": "path = '/checkout'"},
                    "visit_seconds": {"kind": "visit_seconds", "session_gap_minutes": 30},
                    "last_seen_at": {"kind": "max", "column": "received_at"},
                },
            },
        }
    )


AS_OF = dt.datetime(2026, 3, 31, 15, 0)
T0 = dt.datetime(2026, 3, 1, 9, 0)  # 30 days before AS_OF: expired
PAGE_ROWS = [
    # anonymous_id, path, received_at
    ("a1", "/", T0),
    ("a1", "/shoes", T0 + dt.timedelta(minutes=5)),  # 300 s
    ("a1", "/checkout", T0 + dt.timedelta(minutes=15)),  # 600 s
    ("a1", "/", T0 + dt.timedelta(hours=3)),  # a new session: the 2 h 45 min gap is not visit time
    ("a1", "/", T0 + dt.timedelta(hours=3, seconds=20)),  # 20 s
    ("a2", "/", T0 + dt.timedelta(days=1)),
    (None, "/", T0 + dt.timedelta(days=1)),
    ("a1", "/", AS_OF - dt.timedelta(days=2)),  # recent: kept
    ("a3", "/", None),  # undated: kept, and said so
]


def _load_pages(runner, schema: str) -> None:
    runner.begin()
    runner.execute(f'create schema if not exists "{schema}"')
    runner.execute(f'drop table if exists "{schema}".pages')
    runner.execute(
        f'create table "{schema}".pages (anonymous_id varchar, path varchar, received_at timestamp)'
    )
    for anonymous_id, path, received_at in PAGE_ROWS:
        values = ", ".join(
            "null" if v is None else f"timestamp '{v}'" if isinstance(v, dt.datetime) else f"'{v}'"
            for v in (anonymous_id, path, received_at)
        )
        runner.execute(f'insert into "{schema}".pages values ({values})')
    runner.commit()


def _check_retention(runner, schema: str, retained: str) -> None:
    from orchestration.retention.engine import enforce, reapply_at_load

    policy = _policy(schema)
    _load_pages(runner, schema)
    dry = enforce(runner, [policy], as_of=AS_OF, dry_run=True)
    assert dry[0].rows_removed == 7 and dry[0].is_dry_run
    assert runner.query(f'select count(*) from "{schema}".pages')[0][0] == len(PAGE_ROWS)

    [result] = enforce(runner, [policy], as_of=AS_OF)
    assert result.cutoff_at == dt.datetime(2026, 3, 21)
    assert (result.rows_before, result.rows_removed, result.rows_aggregated) == (9, 7, 7)
    assert result.aggregate_rows_written == 3 and "1 rows without received_at" in result.note
    assert runner.query(f'select count(*) from "{schema}".pages')[0][0] == 2
    aggregates = runner.query(
        f"select activity_date, anonymous_id, source_rows, page_views, distinct_paths, checkout_views, "
        f'visit_seconds, last_seen_at from "{retained}".web__pages_daily order by 1, 2 nulls last'
    )
    assert [
        (str(d), a, int(n), int(v), int(dp), int(c), float(s)) for d, a, n, v, dp, c, s, _ in aggregates
    ] == [
        ("2026-03-01", "a1", 5, 5, 3, 1, 920.0),
        ("2026-03-02", "a2", 1, 1, 1, 0, 0.0),
        ("2026-03-02", None, 1, 1, 1, 0, 0.0),
    ]
    log = runner.query(
        f'select trigger, rows_removed, rows_aggregated, cutoff_at from "{retained}".retention_runs'
    )
    assert [(t, int(r), int(a), c) for t, r, a, c in log] == [("schedule", 7, 7, dt.datetime(2026, 3, 21))]

    # The raw file is loaded again, old rows and all: the last cut-off applies, nothing is counted twice.
    _load_pages(runner, schema)
    [again] = reapply_at_load(runner, [policy])
    assert (again.trigger, again.rows_removed) == ("load", 7)
    assert runner.query(f'select count(*) from "{schema}".pages')[0][0] == 2
    assert runner.query(f'select sum(page_views), count(*) from "{retained}".web__pages_daily')[0] == (7, 3)
    triggers = runner.query(
        f'select trigger, count(*) from "{retained}".retention_runs group by 1 order by 1'
    )
    assert [(t, int(n)) for t, n in triggers] == [("load", 1), ("schedule", 1)]


def test_retention_folds_removes_logs_and_survives_a_reload_duckdb(tmp_path):
    from orchestration.retention.engine import DuckDBRunner

    con = duckdb.connect(str(tmp_path / "w.duckdb"))
    _check_retention(DuckDBRunner(con), "raw_web", "retained")
    con.close()


def test_retention_engine_on_postgres():
    psycopg2 = pytest.importorskip("psycopg2")
    from orchestration.retention.engine import PostgresRunner

    try:
        con = psycopg2.connect(
            host="127.0.0.1", port=5432, user="postgres", dbname=TEST_PG_DATABASE, connect_timeout=3
        )
    except psycopg2.OperationalError as exc:
        pytest.skip(f"no Postgres on 127.0.0.1:5432 ({exc})")
    raw, retained = "privacy_data_raw_web", "privacy_data_retained"
    try:
        _check_retention(PostgresRunner(con, schema=retained), raw, retained)
    finally:
        con.rollback()
        with con.cursor() as cur:
            cur.execute(f"drop schema if exists {raw} cascade; drop schema if exists {retained} cascade")
        con.commit()
        con.close()


def test_retention_config_errors_name_the_key(tmp_path):
    from orchestration.retention.config import RetentionConfigError, load_policies

    path = tmp_path / "retention.yml"
    path.write_text(
        "policies:\n  - {source: events, table: pages, clock: received_at, keep_days: 0,\n"
        "     aggregate: {group_by: [anonymous_id], measures: {n: {kind: sum}}}}\n"
    )
    with pytest.raises(RetentionConfigError) as error:
        load_policies(path)
    message = str(error.value)
    assert "policies.0.keep_days" in message and "needs a column" in message
    assert load_policies(tmp_path / "absent.yml") == []


# ---------------------------------------------------------------- Retention: write-audit-publish, end to end


def test_retention_job_publishes_trimmed_raw_and_aggregates_and_reload_keeps_them_out(
    published, settings, tmp_path
):
    """On a copy of the session warehouse: enforce (build copy → remove → dbt build → publish), then
    load the raw files again, as the next nightly build would."""
    from orchestration.retention.run import run_retention
    from orchestration.warehouse.duckdb import DuckDBWarehouse
    from tests.worlds import world_settings

    copy = world_settings(tmp_path)
    copy = type(copy)(**{**copy.__dict__, "data_dir": settings.data_dir})
    copy.published_db.parent.mkdir(parents=True)
    shutil.copyfile(settings.published_db, copy.published_db)
    shutil.copyfile(settings.last_audit_path, copy.last_audit_path)
    before = duckdb.connect(str(copy.published_db), read_only=True)
    pages_before = before.execute("select count(*) from raw_events.pages").fetchone()[0]
    before.close()

    as_of = dt.datetime(2026, 11, 1)
    preview = run_retention(copy, as_of=as_of, dry_run=True)
    report = run_retention(copy, as_of=as_of)
    assert report.published and [t.rows_removed for t in report.tables] == [
        t.rows_removed for t in preview.tables
    ]
    pages = next(t for t in report.tables if t.table_name == "pages")
    assert 0 < pages.rows_removed < pages_before and pages.rows_removed == pages.rows_aggregated

    con = duckdb.connect(str(copy.published_db), read_only=True)
    cutoff = pages.cutoff_at
    assert (
        con.execute("select count(*) from raw_events.pages").fetchone()[0]
        == pages_before - pages.rows_removed
    )
    assert (
        con.execute("select count(*) from raw_events.pages where received_at < ?", [cutoff]).fetchone()[0]
        == 0
    )
    assert (
        con.execute("select sum(page_views) from retained_page_views_daily").fetchone()[0]
        == pages.rows_removed
    )
    assert con.execute("select count(*) from retention_runs where retention_trigger = 'schedule'").fetchone()[
        0
    ] == len(report.tables)
    # Derived tables lost the rows too, and the aggregates are masked like every mart.
    con.execute(f"attach '{settings.published_db}' as original (read_only)")
    expired_events = (
        "select count(*) from {events} where event_id in "
        "(select id from original.raw_events.pages where received_at < ?)"
    )
    assert con.execute(expired_events.format(events="original.main.events"), [cutoff]).fetchone()[0] > 0
    assert con.execute(expired_events.format(events="main.events"), [cutoff]).fetchone()[0] == 0
    assert con.execute("select count(*) from masked.retained_page_views_daily").fetchone()[0] > 0
    con.close()

    warehouse = DuckDBWarehouse(copy)
    warehouse.prepare_build()
    warehouse.load_raw(settings.raw_dir)
    build = duckdb.connect(str(copy.build_db), read_only=True)
    assert (
        build.execute("select count(*) from raw_events.pages").fetchone()[0]
        == pages_before - pages.rows_removed
    )
    reloads = build.execute(
        "select table_name, rows_removed from retained.retention_runs where trigger = 'load' order by 1"
    ).fetchall()
    assert dict(reloads)["pages"] == pages.rows_removed
    assert (
        build.execute("select sum(page_views) from retained.events__pages_daily").fetchone()[0]
        == pages.rows_removed
    )
    build.close()


def test_retention_job_is_scheduled_daily_and_queues_behind_builds(dbt_manifest):
    from orchestration.build.jobs import WRITER_TAG
    from orchestration.definitions import defs

    schedule = defs().resolve_schedule_def("retention_daily")
    assert (schedule.cron_schedule, schedule.job_name) == ("0 3 * * *", "enforce_retention")
    job = defs().resolve_job_def("enforce_retention")
    assert WRITER_TAG in job.tags
    # The retained source is an upstream of dbt, not an output of the raw load (which would skip dbt).
    graph = defs().resolve_asset_graph()
    assert (
        AssetKey(["retained", "events__pages_daily"])
        in graph.get(AssetKey(["stg_retained__events_pages_daily"])).parent_keys
    )
    assert not graph.get(AssetKey(["retained", "events__pages_daily"])).is_materializable


def test_retention_benchmark_reports_consistent_figures(tmp_path):
    from orchestration.retention.bench import run_retention_benchmark

    figures = run_retention_benchmark(rows=5000, workdir=tmp_path)
    assert 0 < figures["rows_removed"] < 5000
    assert figures["rows_removed_again_at_reload"] == figures["rows_removed"]
    assert figures["aggregates_after_reload_equal_removed"] is True
    assert figures["aggregate_rows"] < figures["rows_removed"]


def test_retention_of_declared_person_sources_by_file_age(tmp_path):
    """A declared file's records expire keep_days after the file last changed, their external ids with
    them; a reload brings neither back. A fresh file's records stay."""
    import os
    from dataclasses import replace

    from orchestration.person_sources.load import load_duckdb
    from orchestration.retention.config import Policy
    from orchestration.retention.engine import DuckDBRunner, enforce, reapply_at_load
    from tests.worlds import world_settings

    settings = replace(world_settings(tmp_path), person_sources_path=tmp_path / "person_sources.yml")
    (tmp_path / "fair_2024.csv").write_text(
        "No,Name,Email,Badge\n1,Ann Old,ann@old.org,B1\n2,Bob Old,bob@old.org,\n"
    )
    (tmp_path / "fair_2026.csv").write_text("No,Name,Email,Badge\n1,Cy New,cy@new.org,B9\n")
    declaration = "\n".join(
        f"  - {{name: fair_{year}, file: fair_{year}.csv, record_id: 'No', "
        "fields: {full_name: Name, email: Email}, external_ids: {fair_badge: Badge}}"
        for year in (2024, 2026)
    )
    settings.person_sources_path.write_text(f"person_sources:\n{declaration}\n")
    old = dt.datetime(2024, 5, 1).timestamp()
    os.utime(tmp_path / "fair_2024.csv", (old, old))
    policy = Policy.model_validate(
        {
            "source": "person_sources",
            "table": "records",
            "clock": "file_modified_at",
            "keep_days": 365,
            "aggregate": {
                "group_by": ["source_name", "table_name"],
                "measures": {"records": {"kind": "count"}},
            },
        }
    )
    con = duckdb.connect(str(tmp_path / "w.duckdb"))
    runner = DuckDBRunner(con)
    load_duckdb(con, settings)
    [result] = enforce(runner, [policy], as_of=dt.datetime(2026, 3, 1))
    assert (result.rows_before, result.rows_removed) == (3, 2)
    assert con.execute("select source_name, email from raw_person_sources.records").fetchall() == [
        ("fair_2026", "cy@new.org")
    ]
    assert con.execute("select identifier_value from raw_person_sources.external_ids").fetchall() == [("B9",)]
    assert con.execute(
        "select source_name, activity_date, records from retained.person_sources__records_daily"
    ).fetchall() == [("fair_2024", dt.date(2024, 5, 1), 2)]
    load_duckdb(con, settings)  # the next load reads the old file again
    [again] = reapply_at_load(runner, [policy])
    assert again.rows_removed == 2
    assert con.execute("select count(*) from raw_person_sources.external_ids").fetchone()[0] == 1
    con.close()
    with pytest.raises(ValueError, match="file_modified_at"):
        Policy.model_validate({**policy.model_dump(by_alias=True), "clock": "observed_at"})
