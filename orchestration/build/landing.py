"""What has landed: the state of every source a build reads, so that new data can start a build.

A build records what it is about to read (record_landed, just before it loads), and publishing keeps that
record beside the published warehouse (Settings.last_landed_path, warehouse.audit.keep_audit). The sensor
`build_when_data_lands` (build/schedules.py) compares what is there now with what the published build
read, and asks for a build when they differ: new data reaches the published tables, and the syncs after
them, without waiting for the nightly build.

What counts as landed:
- a raw file drop (data/raw/<system>/<table>.parquet) or a person source's file: its size and
  modification time (to the nanosecond; a folder copied with its times, say to another disk, is no
  delivery);
- a loader's table that a preset reads in place: the newest value of its load-time column, as its dbt
  source declares it (`loaded_at_field`: Segment's `uuid_ts`, Fivetran's `_fivetran_synced`; Snowplow's
  `collector_tstamp` is when the event was collected, so a late batch of old events is not seen). A table
  the loader has not created yet counts as not landed;
- a loader's own database file (sources/presets.yml `databases:`): its size and modification time, and its
  write-ahead log's. The check never opens the file: a loader writing it holds its lock, and the check
  must neither wait for that nor hold up the loader's next write.

The record is taken before the build reads, so data that lands while a build loads is seen again by the
next check: a delivery may start one build too many, never one too few."""

from __future__ import annotations

import hashlib
import json
import logging
from pathlib import Path
from typing import Any

from orchestration.settings import Settings
from orchestration.source_presets.config import source_databases

log = logging.getLogger(__name__)

# How often the sensor checks: it stats the raw files and reads one newest load time per loader table.
LANDING_CHECK_SECONDS = 30


def _file_state(path: Path) -> str:
    stat = path.stat()
    return f"{stat.st_size}:{stat.st_mtime_ns}"


def _landed_files(settings: Settings) -> dict[str, Any]:
    from orchestration.person_sources.config import PersonSourceConfigError, load_config
    from orchestration.warehouse.load import present_raw_files

    files: dict[str, Any] = {}
    for source, table, path in present_raw_files(settings.raw_dir):
        try:
            files[f"file:{source}/{table}"] = _file_state(path)
        except FileNotFoundError:  # removed since the listing: not there
            continue
    try:
        person_sources = load_config(settings).sources
    except PersonSourceConfigError:  # the build stops on it, with the reason; nothing to compare here
        person_sources = []
    for person_source in person_sources:
        if person_source.file is not None and Path(person_source.file).exists():
            name = f"file:person_sources/{person_source.name}.{person_source.table_label}"
            files[name] = _file_state(Path(person_source.file))
    return files


def _landed_databases() -> dict[str, Any]:
    """{database:<name>: state} for each loader's own database file the presets declare: the file's
    and its write-ahead log's (a DuckDB writer's commit may reach only the log until a checkpoint)."""
    landed: dict[str, Any] = {}
    for name, path in source_databases().items():
        states = []
        for file in (path, path.with_name(path.name + ".wal")):
            try:
                states.append(_file_state(file))
            except FileNotFoundError:
                states.append("-")
        if states[0] != "-":
            landed[f"database:{name}"] = "|".join(states)
    return landed


def _loader_tables(settings: Settings) -> list[tuple[str, str, str]]:
    """(name, relation, load-time column) for each loader table a preset reads in place: the enabled dbt
    sources of the presets' base models (models/staging/<system>/base/<preset>/) with a load-time column
    and a freshness check. A table declared `freshness: null` (Klaviyo's metric list, which changes only
    with the account's set-up) starts no build, as it raises no freshness warning."""
    from orchestration.build.project import dbt_project

    manifest_path = dbt_project(settings.target).manifest_path
    if not manifest_path.exists():
        return []
    manifest = json.loads(manifest_path.read_text())
    databases = {
        node.get("database") for node in manifest["nodes"].values() if node["resource_type"] == "model"
    }
    files = {name.lower() for name in source_databases()}
    tables = []
    for source in manifest["sources"].values():
        if "/base/" not in source["original_file_path"] or not source.get("loaded_at_field"):
            continue
        if str(source.get("database") or "").lower() in files:
            continue
        if not source.get("freshness"):  # declared `freshness: null`: its load time tells of no new data
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


def what_landed(settings: Settings) -> dict[str, Any]:
    """{what: its state} for every file and loader table the build reads (see the module's docstring). A
    loader table's state is its newest load time in seconds since 1970 (UTC for a column with a time
    zone), so neither side's time zone or date style changes it."""
    from orchestration.warehouse.registry import get_warehouse

    landed = _landed_files(settings) | _landed_databases()
    tables = _loader_tables(settings)
    if tables:
        warehouse = get_warehouse(settings)
        for name, relation, column in tables:
            sql = f'select cast(extract(epoch from max("{column}")) as double precision) from {relation}'
            try:
                newest = warehouse.query_published(sql)[0][0]
            except Exception as exc:  # noqa: BLE001 (any driver's error): said, and the table is left out
                if "does not exist" in str(exc).lower():  # not created by the loader yet (or not published)
                    log.debug("landing check: %s does not exist yet", name)
                else:
                    log.warning("landing check: %s not readable (%s); its deliveries start no build", name,
                                type(exc).__name__)  # fmt: skip
                continue
            if newest is not None:
                landed[name] = float(newest)
    return landed


def record_landed(settings: Settings) -> None:
    """Write what has landed, just before a build reads it; publishing keeps it (warehouse.audit.keep_audit).
    Only where builds publish; and never at the build's expense: a record that cannot be made is left out
    (the next check then finds everything new, and asks for one build more)."""
    from orchestration.warehouse.registry import get_warehouse

    settings.landed_path.unlink(missing_ok=True)
    if not get_warehouse(settings).publishes:
        return
    try:
        landed = what_landed(settings)
    except (OSError, ValueError) as exc:
        log.warning("no record of what had landed before this build (%s)", type(exc).__name__)
        return
    settings.landed_path.parent.mkdir(parents=True, exist_ok=True)
    settings.landed_path.write_text(json.dumps(landed, indent=1, sort_keys=True))


def _is_new(name: str, state: Any, read: Any) -> bool:
    """A file that changed in any way; a loader table whose newest load time is later than the one read
    (rows deleted by an erasure lower it, and are no delivery)."""
    if read is None:
        return True
    if name.startswith("table:"):
        return not isinstance(read, int | float) or float(state) > float(read)
    return bool(state != read)


def landed_since_publish(settings: Settings) -> tuple[list[str], str]:
    """What is new or changed since the published build read its sources, and a fingerprint of what is
    there now (the same state gives the same fingerprint). Nothing published yet: everything that has
    landed is new."""
    now = what_landed(settings)
    path = settings.last_landed_path
    read = json.loads(path.read_text()) if path.exists() else {}
    changed = sorted(name for name, state in now.items() if _is_new(name, state, read.get(name)))
    fingerprint = hashlib.sha256(json.dumps(now, sort_keys=True).encode()).hexdigest()[:16]
    return changed, fingerprint
