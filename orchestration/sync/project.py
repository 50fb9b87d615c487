"""The project's syncs: loading syncs/syncs.yml, where their state lives, and running one."""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from pathlib import Path

from orchestration.settings import PROJECT_DIR, Settings
from orchestration.sync.config import SyncConfig, load_syncs
from orchestration.sync.engine import SyncRunResult, preview_sync, run_sync
from orchestration.sync.stores import SyncLocation, open_source
from orchestration.warehouse.registry import get_warehouse

# Something to do before a sync sends anything (e.g. retry an erasure's failed deletions).
BeforeSend = Callable[[Settings, SyncConfig], None]

SYNCS_FILE = PROJECT_DIR / "syncs" / "syncs.yml"


def syncs_file() -> Path:
    """The sync declarations: TESSERA_SYNCS_FILE when set (another project's file, a test's), else
    syncs/syncs.yml."""
    value = os.environ.get("TESSERA_SYNCS_FILE")
    return Path(value) if value else SYNCS_FILE


class SyncBlocked(RuntimeError):
    """The published data did not pass its audit, so no sync may read it."""


def sync_location(settings: Settings) -> SyncLocation:
    """Where this project's syncs read the published data and keep their state: the warehouse says."""
    return get_warehouse(settings).sync_location()


def state_path(settings: Settings) -> Path:
    """The DuckDB sync store's own file (never the warehouse analysts read); on Postgres the state is in
    the schema `<published>_sync` and this file does not exist."""
    return settings.published_db.parent / "sync_state.duckdb"


def history_path(settings: Settings) -> Path:
    """The DuckDB sync store's read-only copy of sync_runs and sync_record_log, for analysts."""
    return settings.published_db.parent / "sync_history.duckdb"


def project_syncs(settings: Settings, path: Path | None = None) -> list[SyncConfig]:
    """The validated syncs; a file destination's relative directory is under the data folder."""
    path = path or syncs_file()
    configs = []
    for config in load_syncs(path):
        directory = getattr(config.destination, "directory", None)
        if directory and not Path(directory).is_absolute():
            destination = config.destination.model_copy(
                update={"directory": str(settings.data_dir / directory)}
            )
            config = config.model_copy(update={"destination": destination})
        configs.append(config)
    return configs


def find_sync(settings: Settings, name: str, path: Path | None = None) -> SyncConfig:
    path = path or syncs_file()
    configs = project_syncs(settings, path)
    for config in configs:
        if config.name == name:
            return config
    raise KeyError(f"no sync named {name!r} in {path} (known: {', '.join(c.name for c in configs)})")


def assert_publish_audited(settings: Settings) -> None:
    """Syncs read only data whose build passed every gating test."""
    warehouse = get_warehouse(settings)
    if not warehouse.runs_syncs:
        raise SyncBlocked(f"the {settings.target} warehouse has no sync runner")
    source = open_source(warehouse.sync_location())
    if not source.exists():
        raise SyncBlocked(f"nothing is published yet at {source.describe()}: run the build first")
    audit = json.loads(settings.last_audit_path.read_text()) if settings.last_audit_path.exists() else None
    if not audit or not audit.get("passed"):
        raise SyncBlocked("the published build has no passing audit; syncs will not read it")


def freshness_results(settings: Settings) -> Path:
    """dbt's record of the last build's `dbt source freshness` (read to hold removals after a failed
    check); the Dagster build writes it (orchestration/build/pipeline.check_source_freshness)."""
    return settings.freshness_path


def run_project_sync(
    settings: Settings,
    config: SyncConfig,
    *,
    dry_run: bool = False,
    force: bool = False,
    approve_removals: bool = False,
    before_send: BeforeSend | None = None,
) -> SyncRunResult:
    """Run one sync of the project. `before_send` runs first unless this is a dry run: the privacy
    package passes its retry of the deletions a destination failed during an erasure (the callers that
    assemble the packages, the CLI and the Dagster definitions, wire it in; sync never imports privacy)."""
    assert_publish_audited(settings)
    if not dry_run and before_send is not None:
        before_send(settings, config)
    return run_sync(
        config,
        sync_location(settings),
        dry_run=dry_run,
        force=force,
        approve_removals=approve_removals,
        freshness_path=freshness_results(settings),
    )


def preview_project_sync(settings: Settings, config: SyncConfig):  # type: ignore[no-untyped-def]
    assert_publish_audited(settings)
    return preview_sync(config, sync_location(settings))
