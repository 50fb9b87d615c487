"""Checking the source presets against the published warehouse, without building: a misspelt schema would
otherwise build an empty event history without a word."""

from __future__ import annotations

from pathlib import Path

from orchestration.settings import PROJECT_DIR, Settings
from orchestration.source_presets.config import (
    SourcePresetConfigError,
    SourcePresets,
    load_presets,
    shown_path,
)
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
    published warehouse. Skipped when there is no warehouse yet, or the tables are in another database.
    Raises SourcePresetConfigError."""
    presets = load_presets(project_dir)
    shown = shown_path(presets.path) if presets.path else None
    warehouse = get_warehouse(settings)
    for system, declaration in presets.sources.items():
        tables = ANY_OF.get(declaration.preset)
        if not tables or declaration.database or declaration.schema_name is None:
            continue
        schema, prefix = declaration.schema_name, declaration.table_prefix
        columns = {table: warehouse.published_columns(schema, prefix + table) for table in tables}
        if any(found is None for found in columns.values()):
            continue  # no published warehouse to look in
        present = {table: found for table, found in columns.items() if found}
        if not present:
            raise SourcePresetConfigError(
                f"no {', '.join(prefix + t for t in tables)} table in schema {schema!r} of the warehouse: "
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
