"""The identity review queue: list probable matches, explain them, and record a reviewer's decision.

Decisions are appended to `<data dir>/raw/review/identity_review_decisions.parquet`, which every build
loads with the other raw files (so the decisions hold on DuckDB and Postgres alike, and survive any
rebuild). The file is replaced atomically under a lock, so the CLI never writes the warehouse a build
or an analyst has open, and a build reads either the old or the new set of decisions, never half.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import fcntl
import getpass
import json
import re
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from orchestration.identity.matching import waterfall_html
from orchestration.settings import Settings
from orchestration.warehouse.files import written_aside
from orchestration.warehouse.registry import get_warehouse

DECISIONS_SCHEMA = pa.schema(
    [
        ("decision_id", pa.string()),
        ("pair_id", pa.string()),
        ("unique_id_l", pa.string()),
        ("unique_id_r", pa.string()),
        ("decision", pa.string()),
        ("decided_by", pa.string()),
        ("decided_at", pa.timestamp("us")),
        ("note", pa.string()),
    ]
)
PAIR_ID = re.compile(r"^pair_[0-9a-f]{4,16}$")


class ReviewError(Exception):
    """A decision or lookup that cannot be done; the message says why."""


def decisions_path(settings: Settings) -> Path:
    return settings.raw_dir / "review" / "identity_review_decisions.parquet"


@contextlib.contextmanager
def _decisions_lock(path: Path) -> Iterator[None]:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path.with_suffix(".lock"), "w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def read_decisions(settings: Settings) -> pa.Table:
    path = decisions_path(settings)
    if not path.exists():
        return DECISIONS_SCHEMA.empty_table()
    try:
        table = pq.read_table(path)
    except Exception as error:
        raise ReviewError(f"{path} is not a readable Parquet file ({error}); fix or move it first") from error
    missing = [name for name in DECISIONS_SCHEMA.names if name not in table.column_names]
    if missing:
        raise ReviewError(f"{path} lacks the columns {missing}; fix or move it first")
    return table.select(DECISIONS_SCHEMA.names).cast(DECISIONS_SCHEMA)


def _query(settings: Settings, sql: str) -> list[tuple]:
    try:
        return get_warehouse(settings).query_published(sql)
    except Exception as error:
        raise ReviewError(
            f"cannot read the published warehouse ({error}); has a build been published?"
        ) from error


def _check_pair_id(pair_id: str) -> str:
    pair_id = pair_id.strip().lower()
    if not PAIR_ID.match(pair_id):
        raise ReviewError(f"{pair_id!r} is not a pair id (pair_ + hex, as in `tessera review list`)")
    return pair_id


def resolve_pair(settings: Settings, pair_id: str) -> tuple[str, str, str]:
    """The full pair id and its two record ids, from a pair id or a unique prefix of one."""
    pair_id = _check_pair_id(pair_id)
    rows = _query(
        settings,
        "select distinct pair_id, unique_id_l, unique_id_r from int_identity__probabilistic_links "
        f"where pair_id like '{pair_id}%'",
    )
    if not rows:
        raise ReviewError(f"no scored or reviewed pair {pair_id} in the published warehouse")
    if len(rows) > 1:
        raise ReviewError(f"{pair_id} matches {len(rows)} pairs; give more of the id")
    full_id, left, right = rows[0]
    return str(full_id), str(left), str(right)


@dataclass
class Decision:
    decision_id: str
    pair_id: str
    unique_id_l: str
    unique_id_r: str
    decision: str
    decided_by: str
    decided_at: dt.datetime
    note: str | None


def record_decision(
    settings: Settings, pair_id: str, decision: str, decided_by: str | None = None, note: str | None = None
) -> Decision:
    """Append a decision; the next build applies it, and every later one keeps applying it."""
    if decision not in ("accept", "reject"):
        raise ReviewError(f"a decision is accept or reject, not {decision!r}")
    full_id, left, right = resolve_pair(settings, pair_id)
    made = Decision(
        decision_id=uuid.uuid4().hex,
        pair_id=full_id,
        unique_id_l=left,
        unique_id_r=right,
        decision=decision,
        decided_by=decided_by or getpass.getuser(),
        decided_at=dt.datetime.now(dt.UTC).replace(tzinfo=None),
        note=note,
    )
    path = decisions_path(settings)
    with _decisions_lock(path):
        existing = read_decisions(settings)
        added = pa.Table.from_pylist([made.__dict__], schema=DECISIONS_SCHEMA)
        combined = pa.concat_tables([existing, added])
        with written_aside(path) as aside:
            pq.write_table(combined, aside)
    return made


def review_queue(settings: Settings, limit: int) -> list[dict[str, Any]]:
    columns = [
        "pair_id",
        "match_probability",
        "review_reason",
        "name_l",
        "name_r",
        "email_l",
        "email_r",
        "phone_l",
        "phone_r",
        "address_l",
        "address_r",
        "customer_id_l",
        "customer_id_r",
    ]
    rows = _query(
        settings,
        f"select {', '.join(columns)} from identity_review_queue "
        f"order by match_probability desc, pair_id limit {int(limit)}",
    )
    return [dict(zip(columns, row, strict=False)) for row in rows]


def pending_decisions(settings: Settings) -> int:
    """Decisions written since the published build was made (applied by the next build)."""
    table = read_decisions(settings)
    if table.num_rows == 0:
        return 0
    applied = {
        row[0] for row in _query(settings, "select decision_id from stg_review__identity_review_decisions")
    }
    return sum(1 for decision_id in table.column("decision_id").to_pylist() if decision_id not in applied)


def explain(settings: Settings, pair_id: str) -> dict[str, Any]:
    """The pair's status, probability and match-weight breakdown (prior + one row per comparison)."""
    full_id, left, right = resolve_pair(settings, pair_id)
    status = _query(
        settings,
        "select link_status, match_probability, match_weight, names_compatible, decision "
        f"from int_identity__probabilistic_links where pair_id = '{full_id}'",
    )[0]
    weights = _query(
        settings,
        "select comparison_name, comparison_level, match_weight from identity_match_weights "
        f"where pair_id = '{full_id}' order by comparison_order",
    )
    return {
        "pair_id": full_id,
        "unique_id_l": left,
        "unique_id_r": right,
        "link_status": status[0],
        "match_probability": status[1],
        "match_weight": status[2],
        "names_compatible": status[3],
        "decision": status[4],
        "weights": [{"comparison": c, "level": level, "match_weight": w} for c, level, w in weights],
    }


def write_waterfall(settings: Settings, pair_id: str, out: Path) -> Path:
    """Splink's waterfall chart for the pair, as a standalone HTML file."""
    full_id, _left, _right = resolve_pair(settings, pair_id)
    record_rows = _query(
        settings, f"select splink_record from int_identity__match_pair_records where pair_id = '{full_id}'"
    )
    if not record_rows:
        raise ReviewError(f"{full_id} was not scored in the published build (only decided): no chart to draw")
    model_rows = _query(
        settings, "select model_json from int_identity__match_model where model_json is not null"
    )
    if not model_rows:
        raise ReviewError("the published build holds no trained match model")
    html = waterfall_html(json.loads(model_rows[0][0]), json.loads(record_rows[0][0]))
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(html, encoding="utf-8")
    return out
