"""Checking the source presets against the published warehouse, without building: a misspelt schema would
otherwise build an empty event history without a word."""

from __future__ import annotations

from pathlib import Path

import duckdb

from orchestration.settings import PROJECT_DIR, Settings
from orchestration.source_presets.config import (
    SourcePresetConfigError,
    SourcePresets,
    load_presets,
    shown_path,
)
from orchestration.warehouse.connection import file_columns
from orchestration.warehouse.interface import Warehouse
from orchestration.warehouse.registry import get_warehouse

#: The tables of each preset of which at least one must exist; a loader creates the others only once a
#: call of their kind arrives.
ANY_OF: dict[str, tuple[str, ...]] = {
    # Fivetran's HubSpot connector lands contacts in one table; its Zendesk Support one tickets and users,
    # and its Klaviyo one events and the profiles they belong to, whatever the account holds.
    "fivetran_hubspot": ("contact",),
    "fivetran_zendesk": ("ticket", "user"),
    "fivetran_klaviyo": ("event", "person"),
    "segment": ("tracks", "pages", "identifies"),
    "rudderstack": ("tracks", "pages", "identifies"),
    # Fivetran's Shopify connector writes customer and order on its first sync, whatever the shop holds.
    "fivetran": ("customer", "order"),
    # Snowplow's loaders write every event into one wide table.
    "snowplow": ("events",),
}
#: The column every table of the preset has (the message id; the Shopify record id).
KEY_COLUMN = "id"
#: Presets whose record id is another column.
KEY_COLUMNS: dict[str, str] = {"snowplow": "event_id"}


def check_presets(settings: Settings, project_dir: Path = PROJECT_DIR) -> SourcePresets:
    """The validated presets; for each read in place, its schema must hold the loader's tables in the
    published warehouse, or in the loader's own database file when its `database:` names one. Skipped when
    there is no warehouse yet, or the tables are in another database of the server. Raises
    SourcePresetConfigError."""
    presets = load_presets(project_dir)
    shown = shown_path(presets.path) if presets.path else None
    warehouse = get_warehouse(settings)
    if presets.databases and not warehouse.attaches_database_files:
        raise SourcePresetConfigError(
            f"the {settings.target} warehouse reads its own databases only: declare no database files here, "
            "and name the loader's database or catalog in a source's `database:`",
            file=shown,
            key="databases",
        )
    for system, declaration in presets.sources.items():
        if declaration.preset == "mapped":
            _check_mapped(presets, system, warehouse, shown)
            continue
        tables = ANY_OF.get(declaration.preset)
        if not tables or declaration.schema_name is None:
            continue
        schema, prefix = declaration.schema_name, declaration.table_prefix
        file = presets.database_file(declaration.database)
        if declaration.database and file is None:
            continue  # another database of the server: not one this check can open
        columns = {
            table: _file_columns(file, schema, prefix + table, shown, f"databases.{declaration.database}")
            if file
            else warehouse.published_columns(schema, prefix + table)
            for table in tables
        }
        if any(found is None for found in columns.values()):
            continue  # no published warehouse to look in
        present = {table: found for table, found in columns.items() if found}
        if not present:
            where = f"the database file {shown_path(file)}" if file else "the warehouse"
            raise SourcePresetConfigError(
                f"no {', '.join(prefix + t for t in tables)} table in schema {schema!r} of {where}: "
                f"is this where {declaration.preset} writes?",
                file=shown,
                key=f"sources.{system}.schema",
            )
        key = KEY_COLUMNS.get(declaration.preset, KEY_COLUMN)
        for table, found in present.items():
            if key not in [name.lower() for name in found]:
                raise SourcePresetConfigError(
                    f"{schema}.{prefix}{table} has no {key!r} column (the loader's record id): "
                    f"it is not a {declaration.preset} table",
                    file=shown,
                    key=f"sources.{system}.preset",
                )
    return presets


def _check_mapped(presets: SourcePresets, system: str, warehouse: Warehouse, shown: str | None) -> None:
    """The mapped preset's table must be there, with every column its declaration maps (a column the
    loader renamed or dropped since; a column it added is carried into the events' properties)."""
    declaration = presets.sources[system]
    schema, table, columns = declaration.schema_name, declaration.table, declaration.columns
    if schema is None or table is None or columns is None:
        return  # load_presets has refused such a declaration
    file = presets.database_file(declaration.database)
    if declaration.database and file is None:
        return  # another database of the server: not one this check can open
    found = (
        _file_columns(file, schema, table, shown, f"databases.{declaration.database}")
        if file
        else warehouse.published_columns(schema, table)
    )
    if found is None:
        return  # no published warehouse to look in
    if not found:
        where = f"the database file {shown_path(file)}" if file else "the warehouse"
        raise SourcePresetConfigError(
            f"no table {table} in schema {schema!r} of {where}", file=shown, key=f"sources.{system}.table"
        )
    present = {name.lower() for name in found}
    for role, column in columns.roles().items():
        if column.lower() not in present:
            raise SourcePresetConfigError(
                f"{schema}.{table} has no column {column!r}: was it renamed or dropped? (the table's columns: "
                f"{', '.join(found)})",
                file=shown,
                key=f"sources.{system}.columns.{role}",
            )


def _file_columns(path: Path, schema: str, table: str, shown: str | None, key: str) -> list[str]:
    try:
        return file_columns(path, schema, table)
    except duckdb.Error as exc:
        # Another process writing the file holds its lock; or the file is not a DuckDB database.
        raise SourcePresetConfigError(
            f"cannot read the database file {shown_path(path)} ({type(exc).__name__}): is its loader "
            "writing it now, and is it a DuckDB file?",
            file=shown,
            key=key,
        ) from None
