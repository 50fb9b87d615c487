"""The diff, computed in DuckDB SQL on every warehouse: the source model (read from the published warehouse
through the store's source, orchestration/sync/stores/) against the
sync's state table, over mapped columns only. It yields adds, changes and removes, and counts the rows
held back for a bad key or missing consent."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import duckdb

from orchestration.sync.config import SyncConfig
from orchestration.sync.errors import SyncConfigError
from orchestration.sync.state import state_table

if TYPE_CHECKING:
    from orchestration.sync.stores.base import SyncSource

log = logging.getLogger(__name__)

# A distinctive alias, so that no state file name can collide with it.
WAREHOUSE_ALIAS = "tessera_sync_source_wh"


def quote(identifier: str) -> str:
    return '"' + identifier.replace('"', '""') + '"'


def sql_string(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


@dataclass
class DiffCounts:
    source_rows: int = 0
    eligible: int = 0
    adds: int = 0
    changes: int = 0
    removes: int = 0
    unchanged: int = 0
    invalid: int = 0
    invalid_null_key: int = 0
    invalid_duplicate_key: int = 0
    consent_excluded: int = 0
    # Rows held out of every send: an audience's control group, and the global holdout.
    holdout_excluded: int = 0
    global_holdout_excluded: int = 0
    skipped: int = 0
    destination_rows: int = 0
    removes_suppressed: int = 0
    # Of `skipped`: records the destination refused permanently, with the same data as now.
    skipped_rejected: int = 0
    removes_held: int = 0
    consent_column_missing: bool = False


def _wanted_columns(config: SyncConfig) -> list[str]:
    """The source columns a diff reads: the key, the mapped columns, consent and its evidence."""
    wanted = [config.source.primary_key, *config.mapping.values()]
    if config.consent_column:
        wanted.append(config.consent_column)
    if config.consent_purpose:
        wanted.append(f"consent_basis_{config.consent_purpose}")
    wanted.extend(HOLDOUT_COLUMNS)
    if config.source.journey is not None:
        wanted.append(JOURNEY_ENTRY_COLUMN)
    quiet = config.timing.quiet_hours
    if quiet is not None and quiet.timezone_column:
        wanted.append(quiet.timezone_column)
    return list(dict.fromkeys(wanted))


def _recipient_timezone(config: SyncConfig, columns: set[str]) -> str:
    """The SQL of a row's IANA time zone for quiet hours (`timing.quiet_hours.timezone_column`), null
    when the sync reads none (the default zone applies)."""
    quiet = config.timing.quiet_hours
    if quiet is None or quiet.timezone_column is None:
        return "cast(null as varchar)"
    if quiet.timezone_column not in columns:
        raise SyncConfigError(
            f"column {quiet.timezone_column} is not in {config.source.model}",
            key=f"{config.name}.timing.quiet_hours.timezone_column",
        )
    return f"nullif(trim(cast({quote(quiet.timezone_column)} as varchar)), '')"


# A journey's sync step is an event per entry, not a membership (docs/journeys.md, "Sent once per
# entry"): its source's entered_at marks the entry, and the state's payload_hash of a journey record
# starts with the entry it was sent for, so a record is sent once per entry and never removed.
JOURNEY_ENTRY_COLUMN = "entered_at"


def _entry(config: SyncConfig, columns: set[str]) -> tuple[str, str]:
    """The SQL of a row's entry time and entry mark (`entry:<entered_at>:`), nulls for a source that
    is no journey."""
    if config.source.journey is None:
        return "cast(null as timestamp)", "cast(null as varchar)"
    if JOURNEY_ENTRY_COLUMN not in columns:
        raise SyncConfigError(
            f"column {JOURNEY_ENTRY_COLUMN} is not in {config.source.model}: a journey source marks each "
            "entry with it",
            key=f"{config.name}.source",
        )
    entered_at = f"try_cast({quote(JOURNEY_ENTRY_COLUMN)} as timestamp)"
    return entered_at, f"'entry:' || coalesce(cast({entered_at} as varchar), '') || ':'"


# Whatever the source, a row flagged in one of these columns is never sent (the global holdout first:
# it is the reason given when both are set). A null flag holds the row out too.
HOLDOUT_COLUMNS = ("is_global_holdout", "is_holdout")
HOLDOUT_REASONS = {"is_global_holdout": "global_holdout", "is_holdout": "holdout"}


def _held_out(columns: set[str]) -> str:
    """The SQL of a row's holdout reason (`global_holdout`, `holdout`), null when it may be sent."""
    present = [column for column in HOLDOUT_COLUMNS if column in columns]
    if not present:
        return "cast(null as varchar)"
    whens = " ".join(
        f"when coalesce(try_cast({quote(column)} as boolean), true) then {sql_string(HOLDOUT_REASONS[column])}"
        for column in present
    )
    return f"case {whens} end"


def compute_diff(
    conn: duckdb.DuckDBPyConnection,
    config: SyncConfig,
    source: SyncSource,
    *,
    with_changes: bool = True,
    with_removes: bool = True,
) -> DiffCounts:
    """Build the temp tables `_sync_source` and `_sync_diff` on `conn` (the store's diff connection, where
    the sync's state table is readable) and return the counts. The published source is opened on `conn`
    (read-only) for the duration of the read only."""
    with source.open(conn) as tables:
        schema, table_name = config.source.schema_and_table
        found = tables.columns(schema, table_name)
        if found is None:
            raise SyncConfigError(
                f"model {config.source.model} is not in the warehouse", key=f"{config.name}.source.model"
            )
        columns = set(found)
        if config.source.primary_key not in columns:
            raise SyncConfigError(
                f"column {config.source.primary_key} is not in {config.source.model}",
                key=f"{config.name}.source.primary_key",
            )
        missing = sorted(set(config.mapping.values()) - columns)
        if missing:
            raise SyncConfigError(
                f"column(s) {', '.join(missing)} are not in {config.source.model}",
                key=f"{config.name}.mapping",
            )
        row_filter = config.source.row_filter
        if row_filter is not None and row_filter[0] not in columns:
            raise SyncConfigError(
                f"column {row_filter[0]} is not in {config.source.model}, so it cannot read "
                f"{config.source.describe}",
                key=f"{config.name}.source",
            )
        recipient_timezone = _recipient_timezone(config, columns)
        entered_at, entry_mark = _entry(config, columns)
        relation = tables.relation(
            schema, table_name, [c for c in _wanted_columns(config) if c in columns], row_filter
        )
        counts = DiffCounts()
        consent_column = config.consent_column
        if consent_column is None:
            consent = "true"
        elif consent_column in columns:
            # Deny by default: only a true value lets a row through; null, false or unreadable do not.
            consent = f"coalesce(try_cast({quote(consent_column)} as boolean), false)"
        else:
            consent = "false"
            counts.consent_column_missing = True
            log.warning(
                "sync %s: %s has no column %s, so every row is excluded for lack of consent",
                config.name,
                config.source.model,
                consent_column,
            )
        # Optional evidence: a column consent_basis_<purpose> (the consent decision's id) is recorded
        # with each send, so "was consent valid when we sent this?" can be answered per record.
        evidence_column = f"consent_basis_{config.consent_purpose}" if config.consent_purpose else None
        evidence = (
            f"cast({quote(evidence_column)} as varchar)"
            if evidence_column and evidence_column in columns
            else "cast(null as varchar)"
        )
        fields = ", ".join(f"{quote(name)} := {quote(column)}" for name, column in config.mapping.items())
        conn.execute(
            f"""
            create or replace temp table _sync_source as
            select
                key,
                payload,
                coalesce(entry_mark, '') || md5(payload) as payload_hash,
                entry_mark,
                entered_at,
                consented,
                consent_evidence,
                held_out,
                recipient_timezone,
                count(*) over (partition by key) as key_count
            from (
                select
                    cast({quote(config.source.primary_key)} as varchar) as key,
                    cast(to_json(struct_pack({fields})) as varchar) as payload,
                    {consent} as consented,
                    {evidence} as consent_evidence,
                    {_held_out(columns)} as held_out,
                    {recipient_timezone} as recipient_timezone,
                    {entry_mark} as entry_mark,
                    {entered_at} as entered_at
                from {relation}
            )
            """
        )

    table = state_table(config.name)
    journey = config.source.journey is not None
    if journey:
        # Sent once per entry, in every mode: a record is sent when its entry was not yet confirmed
        # sent (an add, counted by frequency caps like any new send), and a member who leaves the ready
        # set is not removed.
        with_changes, with_removes = True, False
    purpose = config.consent_purpose
    granted = sql_string(f"granted:{purpose}" if purpose else "not_required")
    withdrawn = sql_string(f"withdrawn:{purpose}" if purpose else "not_required")
    change_filter = "present.key is null or present.payload_hash <> eligible.payload_hash"
    if not with_changes:
        change_filter = "present.key is null"
    if journey:
        # Sent for this entry: the state's hash starts with its mark. A hash without a mark (state kept
        # before sends were per entry) counts as sent for the entry when it was sent since the entry.
        change_filter = """present.key is null or not (
            starts_with(present.payload_hash, eligible.entry_mark)
            or (
                not starts_with(present.payload_hash, 'entry:')
                and coalesce(present.last_sent_at >= eligible.entered_at, false)
            )
        )"""
    change_kind = "'add'" if journey else "case when present.key is null then 'add' else 'change' end"
    removes = f"""
        union all
        select
            present.key,
            'remove' as change,
            null as payload,
            null as payload_hash,
            present.payload as old_payload,
            present.destination_id,
            case when excluded.key is not null then {withdrawn} else 'n/a' end as consent_basis,
            false as skipped,
            false as rejected
        from present
        left join excluded
            on present.key = excluded.key
        where not exists (select 1 from eligible where eligible.key = present.key)
            and not exists (select 1 from _sync_source as s where s.key = present.key and s.key_count > 1)
    """
    conn.execute(
        f"""
        create or replace temp table _sync_diff as
        with

        eligible as (
            select key, payload, payload_hash, entry_mark, entered_at, consent_evidence
            from _sync_source
            where key is not null and key_count = 1 and held_out is null and consented
        ),

        excluded as (
            select key
            from _sync_source
            where key is not null and key_count = 1 and held_out is null and not consented
        ),

        present as (
            select key, payload_hash, payload, destination_id, last_sent_at
            from {table}
            where payload_hash is not null
        ),

        -- Not sent again until their data changes: records refused permanently (the destination's
        -- documented validation errors), and records refused max_record_attempts runs in a row.
        failing as (
            select key, attempted_hash, status
            from {table}
            where status = 'rejected'
                or (status = 'failed' and attempts >= {int(config.limits.max_record_attempts)})
        )

        select
            eligible.key,
            {change_kind} as change,
            eligible.payload,
            eligible.payload_hash,
            present.payload as old_payload,
            present.destination_id,
            {granted} || coalesce(':' || eligible.consent_evidence, '') as consent_basis,
            coalesce(failing.attempted_hash = eligible.payload_hash, false) as skipped,
            coalesce(failing.attempted_hash = eligible.payload_hash and failing.status = 'rejected', false)
                as rejected
        from eligible
        left join present
            on eligible.key = present.key
        left join failing
            on eligible.key = failing.key
        where {change_filter}
        {removes if with_removes else ""}
        """
    )
    row = conn.execute(
        """
        select
            count(*),
            count(*) filter (where key is null),
            count(*) filter (where key is not null and key_count > 1),
            count(*) filter (where key is not null and key_count = 1 and held_out is null and not consented),
            count(*) filter (where key is not null and key_count = 1 and held_out is null and consented),
            count(*) filter (where key is not null and key_count = 1 and held_out = 'holdout'),
            count(*) filter (where key is not null and key_count = 1 and held_out = 'global_holdout')
        from _sync_source
        """
    ).fetchone()
    assert row is not None
    counts.source_rows, counts.invalid_null_key, counts.invalid_duplicate_key = row[0], row[1], row[2]
    counts.consent_excluded, counts.eligible = row[3], row[4]
    counts.holdout_excluded, counts.global_holdout_excluded = row[5], row[6]
    counts.invalid = counts.invalid_null_key + counts.invalid_duplicate_key
    diff_row = conn.execute(
        """
        select
            count(*) filter (where change = 'add' and not skipped),
            count(*) filter (where change = 'change' and not skipped),
            count(*) filter (where change = 'remove'),
            count(*) filter (where skipped),
            count(*) filter (where rejected)
        from _sync_diff
        """
    ).fetchone()
    assert diff_row is not None
    counts.adds, counts.changes, counts.removes, counts.skipped, counts.skipped_rejected = diff_row
    destination_rows = conn.execute(f"select count(*) from {table} where payload_hash is not null").fetchone()
    counts.destination_rows = destination_rows[0] if destination_rows else 0
    counts.unchanged = counts.eligible - counts.adds - counts.changes - counts.skipped
    return counts


def suppress_removes(conn: duckdb.DuckDBPyConnection, counts: DiffCounts) -> None:
    """Drop every remove from the diff (the empty-source guard)."""
    conn.execute("delete from _sync_diff where change = 'remove'")
    counts.removes_suppressed, counts.removes = counts.removes, 0


def hold_removes(conn: duckdb.DuckDBPyConnection, counts: DiffCounts) -> None:
    """Keep every remove out of this run (held for a person); state keeps the records, so the next run
    finds the same removes again."""
    conn.execute("delete from _sync_diff where change = 'remove'")
    counts.removes_held, counts.removes = counts.removes, 0


def page_diff(conn: duckdb.DuckDBPyConnection, changes: tuple[str, ...], *, page_size: int) -> Any:
    """Yield pages of diff rows of the given kinds, in key order. Each page is fetched completely before
    the caller writes to the database again, so paging and committing can share one connection."""
    kinds = ", ".join(sql_string(change) for change in changes)
    last: str | None = None
    while True:
        rows = conn.execute(
            f"""
            select key, change, payload, payload_hash, old_payload, destination_id, consent_basis
            from _sync_diff
            where change in ({kinds}) and not skipped and (? is null or key > ?)
            order by key
            limit {int(page_size)}
            """,
            [last, last],
        ).fetchall()
        if not rows:
            return
        yield rows
        last = rows[-1][0]


def samples(conn: duckdb.DuckDBPyConnection, *, limit: int) -> dict[str, list[dict[str, Any]]]:
    """A few example rows of each kind, for the dry run."""
    result: dict[str, list[dict[str, Any]]] = {}
    for change in ("add", "change", "remove"):
        rows = conn.execute(
            "select key, payload, old_payload from _sync_diff "
            "where change = ? and not skipped order by key limit ?",
            [change, limit],
        ).fetchall()
        result[change + "s"] = [{"key": key, "payload": new or old} for key, new, old in rows]
    invalid = conn.execute(
        """
        select distinct key, case when key is null then 'null primary key' else 'duplicate primary key' end
        from _sync_source where key is null or key_count > 1 order by 1 nulls first limit ?
        """,
        [limit],
    ).fetchall()
    result["invalid"] = [{"key": key, "reason": reason} for key, reason in invalid]
    excluded = conn.execute(
        "select key from _sync_source "
        "where key is not null and key_count = 1 and held_out is null and not consented order by key limit ?",
        [limit],
    ).fetchall()
    result["consent_excluded"] = [{"key": key} for (key,) in excluded]
    held = conn.execute(
        "select key, held_out from _sync_source "
        "where key is not null and key_count = 1 and held_out is not null order by key limit ?",
        [limit],
    ).fetchall()
    result["held_out"] = [{"key": key, "reason": reason} for key, reason in held]
    return result
