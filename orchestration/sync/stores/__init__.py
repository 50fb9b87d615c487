"""The sync stores, one per kind of warehouse: where the engine reads the published source and keeps its
state. The warehouse names its store (`Warehouse.sync_location().store`); this registry maps the name to
the module, so the engine never asks which warehouse it runs on."""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractContextManager
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING, Any

from orchestration.sync.stores import duckdb as duckdb_store
from orchestration.sync.stores import postgres as postgres_store
from orchestration.sync.stores import spark as spark_store
from orchestration.sync.stores.base import SyncSource, SyncStore
from orchestration.warehouse.interface import SyncLocation

if TYPE_CHECKING:  # the name `duckdb` here is the store module below, not the library
    from duckdb import DuckDBPyConnection

__all__ = [
    "STORES",
    "SyncLocation",
    "SyncSource",
    "SyncStore",
    "duckdb_location",
    "open_preview",
    "open_source",
    "open_store",
    "publish_history",
    "record_history",
    "state_exists",
    "state_files",
    "state_schemas",
]


@dataclass(frozen=True)
class _Kind:
    store: Callable[[SyncLocation], SyncStore]
    source: Callable[[SyncLocation], SyncSource]
    module: ModuleType


STORES: dict[str, _Kind] = {
    "duckdb": _Kind(duckdb_store.DuckDBStore, duckdb_store.DuckDBSource, duckdb_store),
    "postgres": _Kind(postgres_store.PostgresStore, postgres_store.PostgresSource, postgres_store),
    "spark": _Kind(spark_store.SparkStore, spark_store.SparkSource, spark_store),
}


def _kind(location: SyncLocation) -> _Kind:
    try:
        return STORES[location.store]
    except KeyError:
        raise ValueError(
            f"no sync store {location.store!r}: syncs run on {', '.join(sorted(STORES))}"
        ) from None


def duckdb_location(
    warehouse: str | Path | SyncLocation, state: str | Path | None, history: str | Path | None = None
) -> SyncLocation:
    """A location as given: a SyncLocation as is, or a published DuckDB file and a state file."""
    if isinstance(warehouse, SyncLocation):
        return warehouse
    if state is None:
        raise ValueError("a DuckDB warehouse file needs a state file beside it")
    return SyncLocation(
        store="duckdb",
        published=str(warehouse),
        state=str(state),
        history=str(history) if history is not None else None,
    )


def open_store(location: SyncLocation) -> SyncStore:
    return _kind(location).store(location)


def open_source(location: SyncLocation) -> SyncSource:
    return _kind(location).source(location)


def open_preview(
    location: SyncLocation, sync_name: str
) -> AbstractContextManager[tuple[DuckDBPyConnection, int]]:
    preview: Any = _kind(location).module.open_preview
    return preview(location, sync_name)  # type: ignore[no-any-return]


def publish_history(location: SyncLocation) -> None:
    _kind(location).module.publish_history(location)


def state_files(location: SyncLocation) -> list[Path]:
    return list(_kind(location).module.state_files(location))


def state_exists(location: SyncLocation) -> bool:
    """Whether a sync ever kept state here (without creating anything)."""
    return bool(_kind(location).module.state_exists(location))


def state_schemas(location: SyncLocation) -> list[str]:
    """Database schemas holding sync state (for scans of everything the project keeps)."""
    return list(_kind(location).module.state_schemas(location))


def record_history(location: SyncLocation, key: str, limit: int = 20) -> list[tuple[Any, ...]]:
    """What the syncs did with one record key (a customer_id for customer syncs), newest first:
    (logged_at, sync_name, operation, status, error)."""
    return list(_kind(location).module.record_history(location, key, limit))
