"""Read-only reports on the published warehouse, for the CLI summary and the tests."""

from __future__ import annotations

import json
from typing import Any

from orchestration.settings import Settings
from orchestration.warehouse.registry import get_warehouse


def _person_source_tables(warehouse: Any, quarantined: dict[str, int]) -> list[dict[str, Any]]:
    """Declared person sources share one landing table; each is reported as its own source table."""
    loaded = warehouse.query_published(
        "select source_name, table_name, count(*) from raw_person_sources.records group by 1, 2 order by 1, 2"
    )
    staged = {
        (s, t): n
        for s, t, n in warehouse.query_published(
            "select source_name, table_name, count(*) from stg_person_sources__records group by 1, 2"
        )
    }
    return [
        {
            "table": f"{source}.{table}",
            "loaded": rows,
            "staged": staged.get((source, table), 0),
            "quarantined": quarantined.get(f"{source}.{table}", 0),
        }
        for source, table, rows in loaded
    ]


def warehouse_summary(settings: Settings) -> dict[str, Any]:
    """Rows loaded, staged and quarantined per raw table, quarantine reasons, and the last audit."""
    from orchestration.source_presets.config import read_in_place

    warehouse = get_warehouse(settings)
    quarantine = warehouse.query_published(
        "select source_name, table_name, quarantine_reason, row_count from quarantine_summary order by 1, 2, 4 desc"
    )
    quarantined: dict[str, int] = {}
    for source, table, _reason, rows in quarantine:
        quarantined[f"{source}.{table}"] = quarantined.get(f"{source}.{table}", 0) + rows
    tables = []
    in_place = {system: d.preset for system, d in read_in_place().items()}
    for schema, table, relation in warehouse.raw_tables():
        source = schema.removeprefix("raw_")
        if source == "person_sources":
            if table == "records":
                tables += _person_source_tables(warehouse, quarantined)
            continue
        # A system read in place has only an empty stand-in raw table: its rows are those its preset's
        # base model read from the loader's tables.
        counted = f"base_{source}__{table}" if source in in_place else relation
        loaded = warehouse.query_published(f"select count(*) from {counted}")[0][0]
        staged = warehouse.query_published(f"select count(*) from stg_{source}__{table}")[0][0]
        tables.append(
            {
                "table": f"{source}.{table}",
                "loaded": loaded,
                "staged": staged,
                "quarantined": quarantined.get(f"{source}.{table}", 0),
                "preset": in_place.get(source, "demo"),
            }
        )
    identity = warehouse.query_published(
        "select (select count(*) from customers), (select count(*) from customer_identifiers), "
        "(select count(*) from customer_source_records), (select count(*) from identity_guard_audit), "
        "(select count(*) from identity_unresolved_records)"
    )[0]
    # Per source table: the records no customer holds (each listed with its reason in
    # identity_unresolved_records) and the fields staging made null (person_record_field_issues).
    unresolved_by_source = {
        f"{source}.{table}": count
        for source, table, count in warehouse.query_published(
            "select source_name, table_name, count(*) from identity_unresolved_records group by 1, 2 order by 1, 2"
        )
    }
    field_issues_by_source = {
        f"{source}.{table}": count
        for source, table, count in warehouse.query_published(
            "select source_name, table_name, count(*) from person_record_field_issues group by 1, 2 order by 1, 2"
        )
    }
    audit_path = settings.last_audit_path
    return {
        "tables": tables,
        "quarantine": [{"table": f"{s}.{t}", "reason": r, "rows": n} for s, t, r, n in quarantine],
        "identity": dict(
            zip(
                ["customers", "identifiers", "source_records", "guard_refusals", "unresolved_records"],
                identity,
                strict=True,
            ),
            unresolved_by_source=unresolved_by_source,
            field_issues_by_source=field_issues_by_source,
        ),
        "audit": json.loads(audit_path.read_text()) if audit_path.exists() else None,
        "location": warehouse.describe_published(),
    }
