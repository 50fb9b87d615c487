"""Enforcing retention: fold rows past their cut-off into daily aggregates, remove them, log it.

The same SQL runs on DuckDB and Postgres (only the connection differs). Raw rows older than the
cut-off are aggregated per day (of the policy's clock column) and group, the aggregates are written
to retained.<source>__<table>_daily, replacing the rows of the same day and group (so folding the
same raw rows again, after a reload of the raw files, never counts them twice), the raw rows are
deleted, and one row per policy goes to retained.retention_runs — in one transaction per table,
checked: the rows deleted must equal the rows folded into aggregates, or nothing changes.
"""

from __future__ import annotations

import datetime as dt
import logging
import uuid
from dataclasses import asdict, dataclass
from typing import Any, Protocol

from orchestration.retention.config import Measure, Policy

log = logging.getLogger(__name__)

SCHEMA = "retained"
#: The landing table of the declared person sources (orchestration/person_sources/load.py).
PERSON_SOURCE_RECORDS = ("raw_person_sources", "records")
TRIGGERS = ("schedule", "load", "dry_run")


class RetentionError(RuntimeError):
    """Retention could not be applied; nothing was changed for the table named in the message."""


class Runner(Protocol):
    """A warehouse connection: DuckDB or Postgres, with explicit transactions; `schema` holds the
    aggregates and the log (`retained`)."""

    schema: str

    def query(self, sql: str) -> list[tuple[Any, ...]]: ...
    def execute(self, sql: str) -> None: ...
    def begin(self) -> None: ...
    def commit(self) -> None: ...
    def rollback(self) -> None: ...


class DuckDBRunner:
    def __init__(self, con: Any, schema: str = SCHEMA) -> None:
        self.con = con
        self.schema = schema

    def query(self, sql: str) -> list[tuple[Any, ...]]:
        return self.con.execute(sql).fetchall()

    def execute(self, sql: str) -> None:
        self.con.execute(sql)

    def begin(self) -> None:
        self.con.execute("begin transaction")

    def commit(self) -> None:
        self.con.execute("commit")

    def rollback(self) -> None:
        self.con.execute("rollback")


class PostgresRunner:
    """psycopg2: a transaction is open from the first statement until commit or rollback."""

    def __init__(self, con: Any, schema: str = SCHEMA) -> None:
        self.con = con
        self.schema = schema

    def query(self, sql: str) -> list[tuple[Any, ...]]:
        with self.con.cursor() as cur:
            cur.execute(sql)
            return list(cur.fetchall())

    def execute(self, sql: str) -> None:
        with self.con.cursor() as cur:
            cur.execute(sql)

    def begin(self) -> None:
        self.con.commit()

    def commit(self) -> None:
        self.con.commit()

    def rollback(self) -> None:
        self.con.rollback()


@dataclass
class TableRetention:
    """What one enforcement did to one raw table (one row of retention_runs)."""

    run_id: str
    source_name: str
    table_name: str
    trigger: str
    keep_days: int
    cutoff_at: dt.datetime | None
    rows_before: int
    rows_removed: int
    rows_aggregated: int
    aggregate_rows_written: int
    is_dry_run: bool
    note: str
    ran_at: dt.datetime

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        for key in ("cutoff_at", "ran_at"):
            data[key] = data[key].isoformat(sep=" ") if data[key] else None
        return data


def cutoff_for(policy: Policy, as_of: dt.datetime) -> dt.datetime:
    """Midnight UTC, keep_days before as_of's day: whole days are kept or aggregated, never half."""
    day = dt.datetime(as_of.year, as_of.month, as_of.day)
    return day - dt.timedelta(days=policy.keep_days)


def _ts(value: dt.datetime) -> str:
    return f"timestamp '{value.strftime('%Y-%m-%d %H:%M:%S.%f')}'"


def _quote(name: str) -> str:
    return f'"{name}"'


def _measure_sql(name: str, measure: Measure) -> str:
    column = _quote(measure.column) if measure.column else None
    if measure.kind == "visit_seconds":
        # Time between consecutive rows of one group and day, counting only gaps within a session.
        gap = measure.session_gap_minutes * 60
        value = f"case when _gap_seconds <= {gap} then _gap_seconds else 0 end"
        if measure.where:
            value = f"case when ({measure.where}) then {value} end"
        return f"coalesce(sum({value}), 0) as {_quote(name)}"
    if measure.kind == "count":
        inner = f"case when ({measure.where}) then 1 end" if measure.where else "1"
        return f"count({inner}) as {_quote(name)}"
    value = f"case when ({measure.where}) then {column} end" if measure.where else str(column)
    if measure.kind == "count_distinct":
        return f"count(distinct {value}) as {_quote(name)}"
    return f"{measure.kind}({value}) as {_quote(name)}"


def aggregate_sql(policy: Policy, cutoff: dt.datetime, aggregated_at: dt.datetime) -> str:
    """The daily aggregate of every raw row older than `cutoff` (portable SQL)."""
    clock = _quote(policy.clock)
    keys = [_quote(k) for k in policy.aggregate.group_by]
    partition = ", ".join([f"cast({clock} as date)", *keys])
    measures = ",\n        ".join(_measure_sql(n, m) for n, m in policy.aggregate.measures.items())
    key_columns = ",\n        ".join(f"cast({k} as varchar) as {k}" for k in keys)
    group = ", ".join(str(i) for i in range(1, len(keys) + 2))
    return f"""
    select
        cast({clock} as date) as activity_date,
        {key_columns},
        count(*) as source_rows,
        {measures},
        {_ts(aggregated_at)} as aggregated_at
    from (
        select
            *,
            extract(epoch from ({clock} - lag({clock}) over (partition by {partition} order by {clock})))
                as _gap_seconds
        from {policy.raw_relation}
        where {clock} < {_ts(cutoff)}
    ) as expired
    group by {group}
    """


def _runs(runner: Runner) -> str:
    return f'"{runner.schema}"."retention_runs"'


def _table_exists(runner: Runner, schema: str, table: str) -> bool:
    rows = runner.query(
        "select count(*) from information_schema.tables "
        f"where table_schema = '{schema}' and table_name = '{table}'"
    )
    return bool(rows[0][0])


def ensure_tables(runner: Runner, policies: list[Policy]) -> None:
    """the retained schema and its tables exist (empty at first), so dbt's sources always resolve."""
    runner.begin()
    runner.execute(f'create schema if not exists "{runner.schema}"')
    runner.execute(
        f"""
        create table if not exists {_runs(runner)} (
            run_id varchar not null,
            source_name varchar not null,
            table_name varchar not null,
            trigger varchar not null,
            keep_days integer not null,
            cutoff_at timestamp,
            rows_before bigint not null,
            rows_removed bigint not null,
            rows_aggregated bigint not null,
            aggregate_rows_written bigint not null,
            is_dry_run boolean not null,
            note varchar,
            ran_at timestamp not null
        )
        """
    )
    for policy in policies:
        if _table_exists(runner, runner.schema, policy.aggregate_table):
            continue
        if not _table_exists(runner, policy.raw_schema, policy.table):
            log.warning(
                "retention: %s.%s is not loaded; its aggregate table waits", policy.source, policy.table
            )
            continue
        # Typed by the aggregate query itself, on whichever warehouse this is.
        epoch = dt.datetime(1900, 1, 1)
        runner.execute(
            f'create table "{runner.schema}"."{policy.aggregate_table}" as '
            f"select * from ({aggregate_sql(policy, epoch, epoch)}) as shape where 1 = 0"
        )
    runner.commit()


def last_cutoffs(runner: Runner) -> dict[tuple[str, str], dt.datetime]:
    """The latest cut-off each table was enforced to (by the schedule or the CLI, not dry runs)."""
    rows = runner.query(
        f"select source_name, table_name, max(cutoff_at) from {_runs(runner)} "
        "where trigger = 'schedule' and not is_dry_run and cutoff_at is not null group by 1, 2"
    )
    return {(source, table): cutoff for source, table, cutoff in rows}


def apply_policy(
    runner: Runner,
    policy: Policy,
    cutoff: dt.datetime,
    *,
    trigger: str,
    run_id: str,
    dry_run: bool = False,
    now: dt.datetime | None = None,
) -> TableRetention:
    """Fold, remove and log the rows of one table older than `cutoff`, in one transaction."""
    now = now or dt.datetime.now(dt.UTC).replace(tzinfo=None)
    result = TableRetention(
        run_id, policy.source, policy.table, "dry_run" if dry_run else trigger, policy.keep_days,
        cutoff, 0, 0, 0, 0, dry_run, "", now,
    )  # fmt: skip
    in_place = _read_in_place(policy)
    if in_place:
        # The rows are the loader's, in its tables: staging reads them there, and the raw table here
        # is an empty stand-in. Said and logged, never a silent zero.
        result.note = in_place
        log.warning("retention %s.%s: %s", policy.source, policy.table, in_place)
        return _log(runner, result, dry_run)
    if not _table_exists(runner, policy.raw_schema, policy.table):
        result.note = "raw table not loaded"
        return _log(runner, result, dry_run)
    raw = policy.raw_relation
    clock = _quote(policy.clock)
    result.rows_before = int(runner.query(f"select count(*) from {raw}")[0][0])
    expired = int(runner.query(f"select count(*) from {raw} where {clock} < {_ts(cutoff)}")[0][0])
    undated = int(runner.query(f"select count(*) from {raw} where {clock} is null")[0][0])
    if undated:
        result.note = f"{undated} rows without {policy.clock} are kept (they cannot be dated)"
    if dry_run:
        result.rows_removed = result.rows_aggregated = expired
        result.note = (result.note + "; " if result.note else "") + "dry run: nothing changed"
        return result
    if expired == 0:
        return _log(runner, result, dry_run)
    target = f'"{runner.schema}"."{policy.aggregate_table}"'
    keys = ["activity_date", *policy.aggregate.group_by]
    same_key = " and ".join(f"t.{_quote(k)} is not distinct from n.{_quote(k)}" for k in keys)
    runner.begin()
    try:
        runner.execute("drop table if exists _retention_new")
        runner.execute(f"create temporary table _retention_new as {aggregate_sql(policy, cutoff, now)}")
        folded, groups = runner.query("select coalesce(sum(source_rows), 0), count(*) from _retention_new")[0]
        runner.execute(
            f"delete from {target} as t where exists (select 1 from _retention_new as n where {same_key})"
        )
        runner.execute(f"insert into {target} select * from _retention_new")
        removed = int(runner.query(f"select count(*) from {raw} where {clock} < {_ts(cutoff)}")[0][0])
        runner.execute(f"delete from {raw} where {clock} < {_ts(cutoff)}")
        left = int(runner.query(f"select count(*) from {raw} where {clock} < {_ts(cutoff)}")[0][0])
        if (policy.raw_schema, policy.table) == PERSON_SOURCE_RECORDS:
            # A removed person-source record's external ids go with it (keyed by source, table and row).
            runner.execute(
                f"delete from {_quote(PERSON_SOURCE_RECORDS[0])}.external_ids as x where not exists ("
                f"select 1 from {raw} as r where r.source_name = x.source_name "
                "and r.table_name = x.table_name and r.row_number = x.row_number)"
            )
        if int(folded) != removed or left != 0:
            raise RetentionError(
                f"{policy.source}.{policy.table}: {removed} rows to remove but {folded} folded into "
                f"aggregates ({left} left); nothing was changed"
            )
        runner.execute("drop table if exists _retention_new")
        result.rows_removed, result.rows_aggregated, result.aggregate_rows_written = (
            removed,
            int(folded),
            int(groups),
        )
        _insert_run(runner, result)
        runner.commit()
    except Exception:
        runner.rollback()
        raise
    log.info(
        "retention %s.%s: removed %d rows before %s, %d daily aggregate rows",
        policy.source, policy.table, result.rows_removed, cutoff, result.aggregate_rows_written,
    )  # fmt: skip
    return result


def _read_in_place(policy: Policy) -> str | None:
    """Why a policy cannot reach its rows when a preset reads its system in place (docs/sources.md), else
    None. Retention applies to the tables Tessera loads; a loader's own tables keep the loader's retention."""
    from orchestration.source_presets.config import read_in_place

    if policy.schema_name:
        return None
    declaration = read_in_place().get(policy.source)
    if declaration is None:
        return None
    return (
        f"not enforced: {policy.source} is read in place by the {declaration.preset} preset "
        f"(schema {declaration.schema_name}); set the retention of the loader's own tables"
    )


def _insert_run(runner: Runner, r: TableRetention) -> None:
    def text(value: str | None) -> str:
        return "null" if value is None else "'" + value.replace("'", "''") + "'"

    runner.execute(
        f"insert into {_runs(runner)} values ({text(r.run_id)}, {text(r.source_name)}, {text(r.table_name)}, "
        f"{text(r.trigger)}, {r.keep_days}, {_ts(r.cutoff_at) if r.cutoff_at else 'null'}, {r.rows_before}, "
        f"{r.rows_removed}, {r.rows_aggregated}, {r.aggregate_rows_written}, {str(r.is_dry_run).lower()}, "
        f"{text(r.note or None)}, {_ts(r.ran_at)})"
    )


def _log(runner: Runner, result: TableRetention, dry_run: bool) -> TableRetention:
    if not dry_run:
        runner.begin()
        _insert_run(runner, result)
        runner.commit()
    return result


def enforce(
    runner: Runner,
    policies: list[Policy],
    *,
    as_of: dt.datetime,
    trigger: str = "schedule",
    dry_run: bool = False,
) -> list[TableRetention]:
    """Every policy at its cut-off for `as_of` (the scheduled job and `tessera retention`)."""
    if not dry_run:
        ensure_tables(runner, policies)
    run_id = uuid.uuid4().hex[:12]
    return [
        apply_policy(runner, p, cutoff_for(p, as_of), trigger=trigger, run_id=run_id, dry_run=dry_run)
        for p in policies
    ]


def retain_after_load(runner: Runner) -> list[TableRetention]:
    """The loader's hook (orchestration/warehouse.py): the project's policies, reapplied."""
    from orchestration.retention.config import load_policies

    return reapply_at_load(runner, load_policies())


def reapply_at_load(runner: Runner, policies: list[Policy]) -> list[TableRetention]:
    """After the raw files were loaded again: the last enforced cut-off applies to the reloaded rows,
    so a reload never brings removed rows back (they are folded again, replacing the same aggregate
    rows, and logged with trigger 'load'). Tables never enforced are left whole."""
    ensure_tables(runner, policies)
    cutoffs = last_cutoffs(runner)
    run_id = uuid.uuid4().hex[:12]
    results = []
    for policy in policies:
        cutoff = cutoffs.get((policy.source, policy.table))
        if cutoff is not None:
            results.append(apply_policy(runner, policy, cutoff, trigger="load", run_id=run_id))
    return results
