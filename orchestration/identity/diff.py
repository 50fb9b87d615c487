"""What-if for identity rules: rebuild identity with a changed var or seed in a scratch build that no
reader sees, and compare its record -> customer assignment with the published one.

Nothing is published: the scratch build (a copy of the published DuckDB file, or a scratch schema on
Postgres; `Warehouse.scratch`) is removed afterwards, so the published tables and the stable-id state
(customer_id_map, customer_id_history) are left exactly as they were. The build goes through the one
build path (`build_models`), narrowed to the identity models and what a changed seed feeds on the way
to the assignment.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa
import yaml  # type: ignore[import-untyped]

from orchestration.build.pipeline import build_models
from orchestration.settings import PROJECT_DIR, Settings
from orchestration.warehouse.registry import get_warehouse

log = logging.getLogger(__name__)

# The seeds that shape identity (guards, junk patterns, nicknames): the ones a what-if may replace.
IDENTITY_SEEDS = ("identifier_types", "identifier_blocklist", "name_nicknames")
# The model holding each record's customer, and the mart that publishes it.
ASSIGNMENT_MODEL = "int_identity__record_customers"
ASSIGNMENT_MART = "customer_source_records"
RECORD_KEY = ("source_name", "table_name", "record_id")


class WhatIfError(ValueError):
    """A what-if that cannot run: a wrong setting or seed file, nothing published, a failed build."""


@dataclass(frozen=True)
class WhatIf:
    """The change to try: identity vars (`--set`) and replaced identity seeds (`--seed-file`)."""

    dbt_vars: dict[str, Any] = field(default_factory=dict)
    seed_files: dict[str, Path] = field(default_factory=dict)

    def describe(self) -> str:
        parts = [f"{name}={value!r}" for name, value in self.dbt_vars.items()]
        parts += [f"seed {name} <- {path}" for name, path in self.seed_files.items()]
        return ", ".join(parts) or "no change"


def identity_vars(project_file: Path = PROJECT_DIR / "dbt_project.yml") -> dict[str, Any]:
    """The project's identity vars (`identity_*` in dbt_project.yml) and their values."""
    project = yaml.safe_load(project_file.read_text()) or {}
    return {
        name: value for name, value in (project.get("vars") or {}).items() if name.startswith("identity_")
    }


def parse_change(settings: list[str], seed_files: list[str]) -> WhatIf:
    """`name=value` settings (values read as YAML: 0.95, true, [a, b]) and `seed=path.csv` files, checked."""
    known = identity_vars()
    dbt_vars: dict[str, Any] = {}
    for item in settings:
        name, sep, raw = item.partition("=")
        name = name.strip()
        if not sep or not name:
            raise WhatIfError(
                f"--set {item!r}: expected NAME=VALUE, e.g. identity_match_accept_threshold=0.95"
            )
        if name not in known:
            raise WhatIfError(f"--set {name}: not an identity var; they are {', '.join(sorted(known))}")
        try:
            value = yaml.safe_load(raw)
        except yaml.YAMLError as error:
            raise WhatIfError(f"--set {name}: the value {raw!r} does not parse: {error}") from None
        if isinstance(known[name], int | float) and not isinstance(value, int | float):
            raise WhatIfError(f"--set {name}: expected a number like {known[name]!r}, got {raw!r}")
        dbt_vars[name] = value
    files: dict[str, Path] = {}
    for item in seed_files:
        name, sep, raw = item.partition("=")
        if not sep or not name or not raw:
            raise WhatIfError(f"--seed-file {item!r}: expected SEED=PATH, e.g. identifier_types=my_types.csv")
        if name not in IDENTITY_SEEDS:
            raise WhatIfError(
                f"--seed-file {name}: not an identity seed; they are {', '.join(IDENTITY_SEEDS)}"
            )
        path = Path(raw)
        if not path.is_file():
            raise WhatIfError(f"--seed-file {name}: no file at {path}")
        files[name] = path
    return WhatIf(dbt_vars, files)


def selection(change: WhatIf) -> list[str]:
    """The identity models and the assignment mart; for a replaced seed, also what it feeds on the way
    to the assignment (the blocklist reaches the staging models' junk flags)."""
    chosen = ["path:models/identity", ASSIGNMENT_MART]
    chosen += [f"{seed}+,+{ASSIGNMENT_MODEL}" for seed in change.seed_files]
    return chosen


def _replace_seed(scratch: Settings, seed: str, path: Path) -> int:
    """Write the CSV over the scratch copy of the seed, typed like the seed; returns its rows."""
    warehouse = get_warehouse(scratch)
    current = warehouse.read_build_table(seed).schema
    con = duckdb.connect()
    try:
        try:
            rows: pa.Table = con.read_csv(str(path), all_varchar=True, header=True).to_arrow_table()
        except duckdb.Error as error:
            raise WhatIfError(f"--seed-file {seed}: {path} is not a readable CSV: {error}") from None
        missing = [name for name in current.names if name not in rows.column_names]
        extra = [name for name in rows.column_names if name not in current.names]
        if missing or extra:
            raise WhatIfError(
                f"--seed-file {seed}: {path} must have the seed's columns {current.names}; "
                f"missing {missing}, unexpected {extra}"
            )
        try:
            typed = pa.table({f.name: rows.column(f.name).cast(f.type) for f in current}, schema=current)
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError) as error:
            raise WhatIfError(f"--seed-file {seed}: {path} has a value of the wrong type: {error}") from None
    finally:
        con.close()
    warehouse.write_build_table(seed, typed)
    return typed.num_rows


def mask_identifier(identifier_type: str, value: str | None) -> str:
    """Enough of an identifier to recognise it, never the whole of it."""
    if not value:
        return ""
    if identifier_type == "email" and "@" in value:
        local, _, domain = value.partition("@")
        host, dot, tld = domain.rpartition(".")
        return f"{local[:1]}***@{(host or tld)[:1]}***{dot}{tld if host else ''}"
    if identifier_type == "phone":
        return f"{value[:3]}{'*' * max(len(value) - 5, 3)}{value[-2:]}"
    keep = 2 if len(value) > 6 else 1
    return f"{value[:keep]}***{value[-keep:]}"


@dataclass
class Change:
    """One customer that would merge (several published customers become one) or split (one becomes several)."""

    kind: str  # "merge" or "split"
    customer_id: str  # the merged customer (what-if id), or the split one (published id)
    parts: list[str]  # the published customers merged, or the what-if customers it splits into
    records: int
    examples: list[dict[str, Any]]


@dataclass
class DiffReport:
    change: str
    records_compared: int
    customers_before: int
    customers_after: int
    merges: list[Change]
    splits: list[Change]
    merge_count: int
    split_count: int
    records_moved: int
    newly_placed: int
    no_longer_placed: int
    failed_nodes: list[str]

    @property
    def changed(self) -> bool:
        return bool(self.merge_count or self.split_count or self.newly_placed or self.no_longer_placed)

    def to_json(self) -> dict[str, Any]:
        def change(c: Change) -> dict[str, Any]:
            return {
                "customer_id": c.customer_id,
                "parts": c.parts,
                "records": c.records,
                "examples": c.examples,
            }

        return {
            "change": self.change,
            "records_compared": self.records_compared,
            "customers_before": self.customers_before,
            "customers_after": self.customers_after,
            "merges": self.merge_count,
            "splits": self.split_count,
            "records_moved": self.records_moved,
            "newly_placed": self.newly_placed,
            "no_longer_placed": self.no_longer_placed,
            "failed_nodes": self.failed_nodes,
            "merge_examples": [change(c) for c in self.merges],
            "split_examples": [change(c) for c in self.splits],
        }


def identity_diff(settings: Settings, change: WhatIf, *, examples: int = 5) -> DiffReport:
    """Rebuild identity with `change` in a scratch build and compare its assignment with the published one."""
    warehouse = get_warehouse(settings)
    try:
        before = warehouse.query_published(
            f"select source_name, table_name, record_id, customer_id, placed_by from {ASSIGNMENT_MART}"
        )
    except Exception as error:  # no published build, or one without the mart
        raise WhatIfError(f"nothing to compare with: {ASSIGNMENT_MART} is not published ({error})") from None
    failed: list[str] = []
    with warehouse.scratch() as scratch:
        for seed, path in change.seed_files.items():
            log.info(
                "what-if: seed %s replaced by %s (%d rows)", seed, path, _replace_seed(scratch, seed, path)
            )
        results = build_models(
            scratch,
            reason="identity what-if",
            select=selection(change),
            # Seeds keep the scratch copy (replaced ones included). Data tests do not run: a changed rule
            # may break one on purpose, and a failing test would keep the assignment from building.
            exclude_resource_types=["seed", "unit_test", "test"],
            dbt_vars=change.dbt_vars or None,
            report=False,
        )["results"]
        status = {
            r["unique_id"].split(".")[-1]: r.get("status")
            for r in results
            if r["unique_id"].startswith("model.")
        }
        failed = [
            f"{r['unique_id']}: {((r.get('message') or '').strip().splitlines() or ['error'])[-1][:300]}"
            for r in results
            if r.get("status") == "error"
        ]
        if status.get(ASSIGNMENT_MART) != "success":
            raise WhatIfError(
                f"the what-if build did not build {ASSIGNMENT_MART} ({status.get(ASSIGNMENT_MART, 'not run')}): "
                + "; ".join(failed[:10])
            )
        scratch_warehouse = get_warehouse(scratch)
        after = scratch_warehouse.read_build_table(ASSIGNMENT_MART, [*RECORD_KEY, "customer_id", "placed_by"])
        occurrences = scratch_warehouse.read_build_table(
            "int_identity__identifier_occurrences", [*RECORD_KEY, "identifier_type", "identifier_value"]
        )
    return compare(
        before, after, occurrences, change=change.describe(), examples=examples, failed_nodes=failed
    )


def compare(
    before_rows: list[tuple],
    after: pa.Table,
    occurrences: pa.Table,
    *,
    change: str = "",
    examples: int = 5,
    failed_nodes: list[str] | None = None,
) -> DiffReport:
    """Merges and splits between two assignments, judged by partition (customer ids may differ)."""
    before = {tuple(row[:3]): (str(row[3]), row[4]) for row in before_rows}
    after_map = {
        (s, t, r): (c, p)
        for s, t, r, c, p in zip(
            *(after.column(name).to_pylist() for name in (*RECORD_KEY, "customer_id", "placed_by")),
            strict=True,
        )
    }
    common = before.keys() & after_map.keys()
    # For each what-if customer, the published customers of its records; and the reverse.
    sources: dict[str, set[str]] = defaultdict(set)
    targets: dict[str, set[str]] = defaultdict(set)
    records_of_after: dict[str, list[tuple]] = defaultdict(list)
    records_of_before: dict[str, list[tuple]] = defaultdict(list)
    for key in common:
        was, now = before[key][0], after_map[key][0]
        sources[now].add(was)
        targets[was].add(now)
        records_of_after[now].append(key)
        records_of_before[was].append(key)
    merged = sorted((c for c, s in sources.items() if len(s) > 1), key=lambda c: (-len(sources[c]), c))
    split = sorted((c for c, t in targets.items() if len(t) > 1), key=lambda c: (-len(targets[c]), c))

    identifiers: dict[tuple, list[str]] = defaultdict(list)
    shown = {key for customer in merged[:examples] for key in records_of_after[customer]} | {
        key for customer in split[:examples] for key in records_of_before[customer]
    }
    for s, t, r, kind, value in zip(
        *(
            occurrences.column(name).to_pylist()
            for name in (*RECORD_KEY, "identifier_type", "identifier_value")
        ),
        strict=True,
    ):
        if (s, t, r) in shown:
            identifiers[(s, t, r)].append(f"{kind}:{mask_identifier(kind, value)}")

    def example(key: tuple, group: str) -> dict[str, Any]:
        return {
            "source": f"{key[0]}.{key[1]}",
            "record_id": key[2],
            "group": group,
            "placed_by_before": before[key][1],
            "placed_by_after": after_map[key][1],
            "identifiers": sorted(identifiers.get(key, [])),
        }

    def merge_change(customer: str) -> Change:
        keys = sorted(records_of_after[customer])
        # One record of each published customer first, so every part of the merge shows.
        firsts = {before[k][0]: k for k in reversed(keys)}
        picked = sorted(firsts.values()) + [k for k in keys if k not in firsts.values()]
        return Change(
            "merge", customer, sorted(sources[customer]), len(keys),
            [example(k, before[k][0]) for k in picked[: max(examples, len(firsts))]],
        )  # fmt: skip

    def split_change(customer: str) -> Change:
        keys = sorted(records_of_before[customer])
        firsts = {after_map[k][0]: k for k in reversed(keys)}
        picked = sorted(firsts.values()) + [k for k in keys if k not in firsts.values()]
        return Change(
            "split", customer, sorted(targets[customer]), len(keys),
            [example(k, after_map[k][0]) for k in picked[: max(examples, len(firsts))]],
        )  # fmt: skip

    # A record moved when its published customer's records are no longer all together with it.
    moved = sum(
        1 for key in common if len(sources[after_map[key][0]]) > 1 or len(targets[before[key][0]]) > 1
    )
    return DiffReport(
        change=change,
        records_compared=len(common),
        customers_before=len({v[0] for v in before.values()}),
        customers_after=len({v[0] for v in after_map.values()}),
        merges=[merge_change(c) for c in merged[:examples]],
        splits=[split_change(c) for c in split[:examples]],
        merge_count=len(merged),
        split_count=len(split),
        records_moved=moved,
        newly_placed=len(after_map.keys() - before.keys()),
        no_longer_placed=len(before.keys() - after_map.keys()),
        failed_nodes=failed_nodes or [],
    )
