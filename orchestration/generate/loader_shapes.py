"""The demo world in the shapes real loaders write (issue #15): which of the generator's raw files are
rewritten as the tables Segment's, and Fivetran's Shopify, HubSpot, Zendesk Support and Klaviyo
connectors create, in which schemas, and the presets file that declares them, so `tessera demo` goes
through the same presets a company's warehouse does (docs/sources.md). The tables are written by the
warehouse (`write_demo_loader_tables`): orchestration/warehouse/demo_loader_tables.py writes them with
DuckDB, into the DuckDB file or, on Postgres, copied from there into the server's schemas of the same names.

The rows, their ids and their values are the generator's, so the planted truth (truth.parquet, keyed by
source record id) still scores identity. What a loader's shape cannot say is dropped, and documented in
docs/sources.md ("The demo in the loaders' shapes"): Zendesk rates support good or bad, so a CSAT of 4-5
is good, 1-2 bad and 3 offered but not answered; Zendesk has no NPS, so NPS answers are not written.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import yaml  # type: ignore[import-untyped]

#: The systems rewritten, with the preset that reads each and the schema its tables are written to: the
#: demo's own schemas, never the presets' defaults (segment, shopify, …), where a company's tables may be.
LOADER_SHAPES: dict[str, tuple[str, str]] = {
    "events": ("segment", "demo_segment"),
    "shop": ("fivetran", "demo_shopify"),
    "crm": ("fivetran_hubspot", "demo_hubspot"),
    "support": ("fivetran_zendesk", "demo_zendesk"),
    "esp": ("fivetran_klaviyo", "demo_klaviyo"),
}

#: A table each system's tables always include (a run checks it is there before reusing the demo).
MAIN_TABLES = {"events": "tracks", "shop": "order", "crm": "contact", "support": "ticket", "esp": "event"}

#: The load-time columns of the loaders' tables: Segment's `uuid_ts` and Fivetran's `_fivetran_synced`.
LOAD_TIME_COLUMNS = ("uuid_ts", "_fivetran_synced")

#: The raw files each system is written from (data/raw/<system>/<table>.parquet).
SOURCE_FILES: dict[str, tuple[str, ...]] = {
    "events": ("identifies", "tracks", "pages"),
    "shop": ("customers", "orders", "order_items"),
    "crm": ("contacts",),
    "support": ("tickets", "survey_responses"),
    "esp": ("email_events",),
}


def loader_schemas() -> list[str]:
    """Every schema the demo's loader tables are written to."""
    return [schema for _, schema in LOADER_SHAPES.values()]


def raw_contract_tables(system: str) -> list[tuple[str, str]]:
    """(schema, table) of the raw contract's copy of `system` (a demo in the other shape), which writing
    the system's loader tables drops: the loader's tables are then its only copy."""
    return [(f"raw_{system}", table) for table in SOURCE_FILES[system]]


def presets_yaml(systems: list[str], database: tuple[str, str] | None = None) -> str:
    """The presets file that points Tessera at the tables write_loader_shapes created for `systems`: in the
    warehouse, or in the loader's own database file `database` (its name, and its path relative to the
    presets file: `databases:`)."""
    lines = [
        "# The demo's sources, in the shapes real loaders write (written by `tessera demo`; docs/sources.md)."
    ]
    if database and systems:
        name, path = database
        lines += ["databases:", f"  {name}: {json.dumps(path)}"]
    lines.append("sources:" if systems else "sources: {}")
    for system in systems:
        preset, schema = LOADER_SHAPES[system]
        lines += [f"  {system}:", f"    preset: {preset}"]
        if database:
            lines.append(f"    database: {database[0]}")
        lines.append(f"    schema: {schema}")
        if system == "events":
            # The e-commerce spec names a product's category `category`.
            lines += ["    event_properties:", "      product_category: category"]
    return "\n".join(lines) + "\n"


def write_presets_file(path: Path, systems: list[str], database: tuple[str, Path] | None) -> None:
    """presets_yaml for `systems` written to `path`, naming the loader database file `database` (the
    warehouse's demo_loader_database: its name and path) by its path relative to `path`."""
    declared = (database[0], os.path.relpath(database[1], path.parent)) if database else None
    path.write_text(presets_yaml(systems, declared))


def converted_files(raw_dir: Path, systems: list[str]) -> list[Path]:
    """The raw files write_loader_shapes read for `systems`, those that exist."""
    return [
        path
        for system in systems
        for table in SOURCE_FILES[system]
        if (path := raw_dir / system / f"{table}.parquet").exists()
    ]


def declared_tables(presets_file: Path) -> list[tuple[str, str]]:
    """(schema, main table) of each system a presets file written from presets_yaml declares."""
    sources = (yaml.safe_load(presets_file.read_text()) or {}).get("sources") or {}
    return [(LOADER_SHAPES[system][1], MAIN_TABLES[system]) for system in sources if system in LOADER_SHAPES]


def demo_presets_file(data_dir: Path, target: str) -> Path:
    """Where `tessera demo` declares the demo's sources for the warehouse of `target` (the data folder is
    shared between targets; only a warehouse that wrote the loaders' tables has such a file)."""
    return data_dir / f"presets.{target}.yml"
