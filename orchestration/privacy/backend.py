"""What erasure, access export and suppression need from the warehouse they run on.

erase.py and export.py hold the generic flow (locate the cluster, the ledger, the landing files, sync state,
destinations, the proof); each warehouse's half sits behind `ErasureBackend`, one module per warehouse
(backend_duckdb.py, backend_postgres.py). The warehouse names its backend: `Warehouse.privacy_backend` is a
"module:Class" path resolved here, so orchestration/warehouse/ never imports privacy and privacy never
imports a warehouse implementation. A third warehouse is a new backend module, not new branches.
"""

from __future__ import annotations

import importlib
from contextlib import AbstractContextManager
from typing import Any, Protocol, runtime_checkable

from orchestration.build.pipeline import build_and_audit
from orchestration.person_sources.config import PersonSourcesConfig
from orchestration.privacy.cluster import PersonSourceMatch, RawMatch
from orchestration.privacy.loaders import LoaderSource
from orchestration.privacy.probable import ProbableHit, Traits
from orchestration.privacy.scan import TableScan
from orchestration.settings import Settings
from orchestration.warehouse.audit import Audit, PublishBlocked
from orchestration.warehouse.interface import Warehouse
from orchestration.warehouse.registry import get_warehouse

SUPPRESSION_TABLE = "privacy_suppression_list"


@runtime_checkable
class ErasureBackend(Protocol):
    """One warehouse's half of erasure, access export and suppression."""

    # Recorded in each proof as the warehouse scanned.
    name: str
    # The schema the read session's unqualified names resolve to (the published models).
    published_schema: str
    # How the erase's warehouse step ends, for the ledger ("published", "rewritten and published").
    publish_detail: str
    # True when a publish also rewrites the analysts' masked file (so an erase rewrites it too).
    publish_refreshes_masked_file: bool

    def check_published(self) -> None:
        """Raise NoWarehouse when nothing is published."""

    def published_session(self) -> AbstractContextManager[Any]:
        """A read session on the published data (DuckDB-style execute() with `?` parameters); raises
        NoWarehouse when nothing is published."""

    def loader_file_sessions(self) -> AbstractContextManager[list[tuple[str, Any, list[LoaderSource]]]]:
        """Read sessions on the loaders' own database files this warehouse reads besides its connection
        (DuckDB: sources/presets.yml `databases:`), as (declared name, session, the sources read there);
        none elsewhere."""

    def erase(
        self,
        matches: dict[tuple[str, str], RawMatch],
        people: PersonSourceMatch,
        terms: list[str],
        config: PersonSourcesConfig,
        hashes: list[tuple[str, str]],
    ) -> dict[str, Any]:
        """Take the person out of the warehouse under write-audit-publish, with `hashes` as the suppression
        list, and publish only when the rebuild passed its audit and no term is left. Returns
        `deleted_rows` (per table) and `tests_passed`, optionally `vacuumed` (tables) and `notes` (per
        declared person-source table Tessera may not delete in)."""

    def write_suppression_list(self, hashes: list[tuple[str, str]]) -> str:
        """Make `hashes` the suppression list staging reads; returns the ledger's detail of what happened."""

    def scan_published(self, terms: list[str], config: PersonSourcesConfig) -> list[TableScan]:
        """Rows of the published warehouse that hold a term (an SQL scan, as the proof does)."""

    def prove_published(
        self, terms: list[str], config: PersonSourcesConfig
    ) -> tuple[dict[str, int], int, dict[str, int], dict[str, int]]:
        """The proof's scan of the published warehouse: hits per labelled table, rows scanned, hits per
        file of the warehouse scanned byte by byte, and per labelled table the rows where a short or
        all-digit term equals a column that holds no identifier (TableScan.outside: left on purpose)."""

    def loader_reach(self) -> tuple[list[LoaderSource], list[LoaderSource]]:
        """The declared sources read in place (loaders.py): (reached by this warehouse's connection, out of
        reach)."""

    def probe_published(self, traits: Traits, config: PersonSourcesConfig) -> list[ProbableHit]:
        """The subject's rare names and street lines (probable.py) in the tables the proof scans."""

    def proof_notes(self) -> dict[str, str]:
        """Extra entries of the proof (what the scan cannot see)."""


def erasure_backend(settings: Settings, warehouse: Warehouse | None = None) -> ErasureBackend:
    """The backend the settings' warehouse names (its `privacy_backend`, "module:Class")."""
    warehouse = get_warehouse(settings) if warehouse is None else warehouse
    path = getattr(warehouse, "privacy_backend", "")
    module_name, _, class_name = str(path).partition(":")
    if not module_name or not class_name:
        raise ValueError(
            f"{type(warehouse).__name__}.privacy_backend must be 'module:Class', not {path!r}: "
            "privacy requests need a backend for this warehouse"
        )
    implementation = getattr(importlib.import_module(module_name), class_name)
    backend = implementation(settings, warehouse)
    if not isinstance(backend, ErasureBackend):
        raise TypeError(f"{path} does not implement orchestration.privacy.backend.ErasureBackend")
    return backend


def rebuild(settings: Settings, note: str) -> Audit:
    """dbt's phased build of the edited build, every raw event row staged again (the request changed raw
    rows already staged); raises PublishBlocked if its audit fails."""
    audit, _ = build_and_audit(settings, reason="a privacy request", restage=True)
    if not audit.passed:
        raise PublishBlocked(
            f"the rebuild failed its audit ({len(audit.failures)} failing nodes: "
            + "; ".join(f["node"] for f in audit.failures[:5])
            + f"); nothing was published{note}"
        )
    return audit
