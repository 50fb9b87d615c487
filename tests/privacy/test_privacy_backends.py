"""Privacy requests reach the warehouse only through its ErasureBackend: no privacy module asks which target it
runs on, each warehouse names its backend, and a new warehouse is a new backend, not new branches."""

from __future__ import annotations

import ast
import contextlib
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

import orchestration.privacy
from orchestration.privacy.backend import ErasureBackend, erasure_backend
from orchestration.privacy.cluster import NoWarehouse
from orchestration.privacy.erase import erase, set_suppression
from orchestration.privacy.export import collect
from orchestration.privacy.ledger import Ledger, ledger_path
from orchestration.settings import Settings
from orchestration.warehouse import registry
from tests.worlds import world_settings

PRIVACY = Path(orchestration.privacy.__file__).parent
IMPLEMENTATIONS = {"orchestration.warehouse.duckdb", "orchestration.warehouse.postgres"}


def _warehouse_questions(path: Path) -> list[str]:
    """Where a module reads the target name or imports a warehouse implementation."""
    found = []
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Attribute) and node.attr == "target":
            found.append(f"{path.name}:{node.lineno} reads .target")
        elif isinstance(node, ast.ImportFrom) and node.module is not None:
            modules = {node.module} | {f"{node.module}.{alias.name}" for alias in node.names}
            if modules & IMPLEMENTATIONS:
                found.append(f"{path.name}:{node.lineno} imports {sorted(modules & IMPLEMENTATIONS)}")
        elif isinstance(node, ast.Import):
            names = {alias.name for alias in node.names}
            if any(name.startswith(tuple(IMPLEMENTATIONS)) for name in names):
                found.append(f"{path.name}:{node.lineno} imports {sorted(names)}")
    return found


def test_no_privacy_module_asks_which_warehouse_it_runs_on() -> None:
    modules = sorted(PRIVACY.glob("*.py"))
    assert len(modules) > 10
    assert [q for path in modules for q in _warehouse_questions(path)] == []


def test_the_check_sees_a_target_comparison_and_an_implementation_import(tmp_path: Path) -> None:
    module = tmp_path / "branchy.py"
    module.write_text(
        "from orchestration.warehouse.duckdb import DuckDBWarehouse\n"
        "from orchestration.warehouse import postgres\n"
        "import orchestration.warehouse.postgres\n"
        "def f(settings):\n    return settings.target == 'postgres'\n"
    )
    assert len(_warehouse_questions(module)) == 4


@pytest.mark.parametrize("target", ["duckdb", "postgres"])
def test_each_warehouse_names_its_backend(tmp_path: Path, target: str) -> None:
    settings = world_settings(tmp_path, target)
    backend = erasure_backend(settings)
    assert isinstance(backend, ErasureBackend)
    assert backend.name == target
    expected_schema = "main" if target == "duckdb" else settings.postgres.published_schema
    assert backend.published_schema == expected_schema


class SparkLikeWarehouse:
    """A third warehouse, known only to the registry: privacy must reach it through its backend."""

    python_steps_outside_dbt = True
    runs_syncs = False
    audiences_build_as_a_role = False
    privacy_backend = f"{__name__}:SparkLikeErasure"

    def __init__(self, settings: Settings):
        self.settings = settings


class SparkLikeErasure:
    name = "sparklike"
    published_schema = "tessera"
    publish_detail = "published"
    publish_refreshes_masked_file = False
    suppression_lists: list[list[tuple[str, str]]] = []

    def __init__(self, settings: Settings, warehouse: Any):
        self.settings = settings
        self.warehouse = warehouse

    def check_published(self) -> None:
        raise NoWarehouse("sparklike: nothing is published")

    @contextlib.contextmanager
    def published_session(self) -> Iterator[Any]:
        self.check_published()
        yield None

    def loader_file_sessions(self) -> contextlib.AbstractContextManager[list[Any]]:
        return contextlib.nullcontext([])

    def erase(self, *args: Any) -> dict[str, Any]:
        raise AssertionError("not reached: nothing is published")

    def write_suppression_list(self, hashes: list[tuple[str, str]]) -> str:
        self.suppression_lists.append(hashes)
        return "sparklike list written"

    def scan_published(self, terms: list[str], config: Any) -> list[Any]:
        return []

    def prove_published(
        self, terms: list[str], config: Any
    ) -> tuple[dict[str, int], int, dict[str, int], dict[str, int]]:
        return {}, 0, {}, {}

    def loader_reach(self) -> tuple[list[Any], list[Any]]:
        return [], []

    def probe_published(self, traits: Any, config: Any) -> list[Any]:
        return []

    def proof_notes(self) -> dict[str, str]:
        return {}


class NotABackend:
    def __init__(self, settings: Settings, warehouse: Any):
        pass


@pytest.fixture
def sparklike(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Settings:
    monkeypatch.setitem(registry.WAREHOUSES, "sparklike", SparkLikeWarehouse)  # type: ignore[arg-type]
    SparkLikeErasure.suppression_lists = []
    return replace(world_settings(tmp_path), target="sparklike")


def test_a_new_warehouse_is_a_new_backend(sparklike: Settings) -> None:
    """Erase, export and suppress on a warehouse privacy has no branch for: each goes through its backend."""
    assert isinstance(erasure_backend(sparklike), SparkLikeErasure)
    with pytest.raises(NoWarehouse, match="sparklike"):
        erase(sparklike, "email:ada@example.com", syncs=[])
    assert not ledger_path(sparklike).exists()  # stopped before the ledger recorded anything
    with pytest.raises(NoWarehouse, match="sparklike"):
        collect(sparklike, "email", "ada@example.com")
    result = set_suppression(sparklike, "email:ada@example.com", suppress=True)
    assert result.status == "completed"
    assert [len(hashes) for hashes in SparkLikeErasure.suppression_lists] == [1]
    with Ledger(ledger_path(sparklike)) as ledger:
        steps = {s["step"]: s["detail"] for s in ledger.steps(result.request_id)}
    assert steps["warehouse"] == "sparklike list written"


def test_a_warehouse_without_a_usable_backend_is_refused(
    sparklike: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(SparkLikeWarehouse, "privacy_backend", "no_class_named")
    with pytest.raises(ValueError, match="module:Class"):
        erasure_backend(sparklike)
    monkeypatch.setattr(SparkLikeWarehouse, "privacy_backend", f"{__name__}:NotABackend")
    with pytest.raises(TypeError, match="ErasureBackend"):
        erasure_backend(sparklike)
