"""What has landed: the state of every source a build reads, so that new data can start a build.

A build records what it is about to read (record_landed, just before it loads), and publishing keeps that
record beside the published warehouse (Settings.last_landed_path, warehouse.audit.keep_audit). The sensor `build_when_data_lands`
(build/schedules.py) compares what is there now with what the published build read, and asks for a build
when they differ: new data reaches the published tables, and the syncs after them, without waiting for
the nightly build.

What counts as landed:
- a raw file drop (data/raw/<system>/<table>.parquet) or a person source's file: its size and time;
- a loader's table that a preset reads in place: the newest value of its load-time column, as its
  dbt source declares it (`loaded_at_field`: Segment's `uuid_ts`, Fivetran's `_fivetran_synced`,
  Snowplow's `collector_tstamp`). A table the loader has not created yet counts as not landed.

The record is taken before the build reads, so data that lands while a build loads is seen again by the
next check: a delivery may start one build too many, never one too few."""

from __future__ import annotations

import hashlib
import json
import logging
from pathlib import Path

from orchestration.settings import Settings

log = logging.getLogger(__name__)

# How often the sensor checks: it stats the raw files and reads one newest load time per loader table.
LANDING_CHECK_SECONDS = 30


def _file_state(path: Path) -> str:
    stat = path.stat()
    return f"{stat.st_size}:{stat.st_mtime_ns}"


def _landed_files(settings: Settings) -> dict[str, str]:
    from orchestration.person_sources.config import PersonSourceConfigError, load_config
    from orchestration.warehouse.load import present_raw_files

    files = {
        f"file:{source}/{table}": _file_state(path)
        for source, table, path in present_raw_files(settings.raw_dir)
    }
    try:
        person_sources = load_config(settings).sources
    except PersonSourceConfigError:  # the build stops on it, with the reason; nothing to compare here
        person_sources = []
    for source in person_sources:
        if source.file is not None and Path(source.file).exists():
            files[f"file:person_sources/{source.name}.{source.table_label}"] = _file_state(Path(source.file))
    return files


def _loader_tables(settings: Settings) -> list[tuple[str, str, str]]:
    """(name, relation, load-time column) for each loader table a preset reads in place: the enabled dbt
    sources of the presets' base models (models/staging/<system>/base/<preset>/) with a load-time column."""
    from orchestration.build.project import dbt_project

    manifest_path = dbt_project(settings.target).manifest_path
    if not manifest_path.exists():
        return []
    manifest = json.loads(manifest_path.read_text())
    databases = {
        node.get("database") for node in manifest["nodes"].values() if node["resource_type"] == "model"
    }
    tables = []
    for source in manifest["sources"].values():
        if "/base/" not in source["original_file_path"] or not source.get("loaded_at_field"):
            continue
        # Named without the catalog when it is the build's own: the published file (or schema) is read.
        relation = (
            f'"{source["schema"]}"."{source["identifier"]}"'
            if source.get("database") in databases
            else source["relation_name"]
        )
        tables.append(
            (f"table:{source['source_name']}.{source['name']}", relation, source["loaded_at_field"])
        )
    return sorted(tables)


def what_landed(settings: Settings) -> dict[str, str]:
    """{what: its state} for every file and loader table the build reads (see the module's docstring)."""
    from orchestration.warehouse.registry import get_warehouse

    landed = _landed_files(settings)
    tables = _loader_tables(settings)
    if tables:
        warehouse = get_warehouse(settings)
        for name, relation, column in tables:
            try:
                newest = warehouse.query_published(
                    f'select cast(max("{column}") as varchar) from {relation}'
                )[0][0]
            except Exception as exc:  # an absent table (or no published warehouse yet): nothing landed there
                log.debug("landing check: %s not readable (%s)", name, type(exc).__name__)
                continue
            if newest is not None:
                landed[name] = newest
    return landed


def record_landed(settings: Settings) -> None:
    """Write what has landed, just before a build reads it; publishing keeps it (warehouse.audit.keep_audit)."""
    settings.landed_path.parent.mkdir(parents=True, exist_ok=True)
    settings.landed_path.write_text(json.dumps(what_landed(settings), indent=1, sort_keys=True))


def _is_new(name: str, state: str, read: str | None) -> bool:
    """A file that changed in any way; a loader table whose newest load time is later than the one read
    (rows deleted by an erasure or retention lower it, and are no delivery)."""
    if read is None:
        return True
    return state > read if name.startswith("table:") else state != read


def landed_since_publish(settings: Settings) -> tuple[list[str], str]:
    """What is new or changed since the published build read its sources, and a fingerprint of what is
    there now (the same state gives the same fingerprint: one build per state). Nothing published yet:
    everything that has landed is new. Load times are compared as the warehouse writes them as text
    (ISO 8601, which sorts as time does)."""
    now = what_landed(settings)
    path = settings.last_landed_path
    read = json.loads(path.read_text()) if path.exists() else {}
    changed = sorted(name for name, state in now.items() if _is_new(name, state, read.get(name)))
    fingerprint = hashlib.sha256(json.dumps(now, sort_keys=True).encode()).hexdigest()[:16]
    return changed, fingerprint
