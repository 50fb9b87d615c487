"""Reverse-ETL syncs: declared in YAML, diffed in DuckDB, delivered to destination APIs exactly once."""

from __future__ import annotations

from orchestration.sync.config import SyncConfig, load_syncs
from orchestration.sync.engine import DryRunReport, SyncRunResult, preview_sync, run_sync
from orchestration.sync.errors import SyncConfigError
from orchestration.sync.state import publish_state

__all__ = [
    "DryRunReport",
    "SyncConfig",
    "SyncConfigError",
    "SyncRunResult",
    "load_syncs",
    "preview_sync",
    "publish_state",
    "run_sync",
]
