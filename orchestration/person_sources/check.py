"""Checking the person-source declarations against their files or published tables, without loading."""

from __future__ import annotations

from typing import Any

from orchestration.person_sources.config import PersonSourceConfigError, check_columns, load_config
from orchestration.person_sources.load import file_columns
from orchestration.settings import Settings
from orchestration.warehouse.registry import get_warehouse


def check_sources(settings: Settings) -> list[dict[str, Any]]:
    """Validate every declaration against its file, or its table in the published warehouse, without
    loading anything; one summary row per source. Raises PersonSourceConfigError / LoadError."""
    config = load_config(settings)
    rows = []
    for source in config.sources:
        if source.file is not None:
            columns: list[str] | None = file_columns(source)
        else:
            columns = _published_table_columns(settings, str(source.table))
            if columns == []:
                raise PersonSourceConfigError(
                    f"table {source.table} does not exist in the published warehouse",
                    file=config.declared_in.get(source.name),
                    source=source.name,
                    key="table",
                )
        if columns is not None:
            check_columns(source, columns, file=config.declared_in.get(source.name))
        rows.append(
            {
                "source": f"{source.name}.{source.table_label}",
                "reads": str(source.file or source.table),
                "record_id": source.record_id,
                "fields": ", ".join(source.fields.mapped()),
                "external_ids": ", ".join(source.external_ids) or "-",
                "priority": source.priority,
                "declared_in": config.declared_in.get(source.name, ""),
                "checked": columns is not None,
            }
        )
    return rows


def _published_table_columns(settings: Settings, qualified: str) -> list[str] | None:
    """Column names of a table in the published warehouse; None when there is no warehouse yet."""
    schema, _, table = qualified.partition(".")
    return get_warehouse(settings).published_columns(schema, table)
