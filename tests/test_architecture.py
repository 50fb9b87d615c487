"""The package's shape: packages by concern, imports in one direction, the warehouse behind one interface.

Read from the source (AST), nothing imported, so these checks are fast and say which file broke a rule."""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parent.parent / "orchestration"
# The only modules kept at the top of the package: settings, and the two places that assemble the
# packages (the command line and Dagster's definitions).
TOP_LEVEL = {"__init__", "settings", "cli", "definitions"}
ASSEMBLY = {"orchestration.cli", "orchestration.definitions"}


def _modules() -> dict[str, Path]:
    found = {}
    for path in PACKAGE.rglob("*.py"):
        parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
        name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
        found[name] = path
    return found


def _imports(path: Path, name: str, modules: dict[str, Path]) -> list[tuple[str, int, bool]]:
    """(imported project module, line, inside a function) for every import of the project in `path`: imports
    inside functions count too, since they hide an edge of the graph but not a cycle."""
    tree = ast.parse(path.read_text())
    nested: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            for inner in ast.walk(node):
                if isinstance(inner, ast.Import | ast.ImportFrom):
                    nested.add(id(inner))
    found = []
    for node in ast.walk(tree):
        targets: list[str] = []
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            targets = [node.module] + [f"{node.module}.{alias.name}" for alias in node.names]
        for target in targets:
            while target and target not in modules:
                target = target.rpartition(".")[0]
            if target and target != name and target.startswith("orchestration") and target != "orchestration":
                found.append((target, node.lineno, id(node) in nested))
    return found


def _graph() -> dict[str, set[str]]:
    modules = _modules()
    return {name: {t for t, _, _ in _imports(path, name, modules)} for name, path in modules.items()}


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected groups of more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    groups: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for other in graph.get(node, ()):
            if other not in index:
                visit(other)
                low[node] = min(low[node], low[other])
            elif other in on_stack:
                low[node] = min(low[node], index[other])
        if low[node] == index[node]:
            group = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                group.append(member)
                if member == node:
                    break
            if len(group) > 1:
                groups.append(sorted(group))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return groups


def test_the_import_graph_has_no_cycles() -> None:
    assert _cycles(_graph()) == []


def test_the_top_of_the_package_holds_only_settings_and_the_assembly() -> None:
    flat = {path.stem for path in PACKAGE.glob("*.py")}
    assert flat <= TOP_LEVEL, f"modules outside a package: {sorted(flat - TOP_LEVEL)}"


def test_no_package_imports_the_assembly_modules() -> None:
    """cli.py and definitions.py assemble the packages; nothing below them imports them (no back edges)."""
    offenders = [
        f"{name} imports {target}"
        for name, targets in _graph().items()
        for target in targets
        if target in ASSEMBLY and name not in ASSEMBLY
    ]
    assert offenders == []


def test_only_the_warehouse_package_asks_which_warehouse_it_is_on() -> None:
    """No module outside orchestration/warehouse/ compares the target's name or names an implementation."""
    offenders = []
    for path in PACKAGE.rglob("*.py"):
        if path.is_relative_to(PACKAGE / "warehouse"):
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Compare):
                names = [node.left, *node.comparators]
                if any(isinstance(n, ast.Attribute) and n.attr == "target" for n in names) and any(
                    isinstance(n, ast.Constant) and n.value in ("duckdb", "postgres", "spark") for n in names
                ):
                    offenders.append(f"{path.relative_to(PACKAGE.parent)}:{node.lineno}")
            if isinstance(node, ast.ImportFrom) and node.module in (
                "orchestration.warehouse.duckdb",
                "orchestration.warehouse.postgres",
            ):
                offenders.append(f"{path.relative_to(PACKAGE.parent)}:{node.lineno} imports {node.module}")
    assert offenders == []


def test_the_cycle_check_finds_a_cycle() -> None:
    """The check above can fail."""
    assert _cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]


def test_nothing_happens_at_import(tmp_path: Path) -> None:
    """Importing every module changes no environment variable and writes no file (a fresh process,
    started in an empty folder)."""
    import subprocess
    import sys

    script = f"""
import importlib, json, os, pkgutil, sys
sys.path.insert(0, {str(PACKAGE.parent)!r})
before = dict(os.environ)
import orchestration
names = [m.name for m in pkgutil.walk_packages(orchestration.__path__, "orchestration.")]
for name in names:
    importlib.import_module(name)
# Third-party libraries set their own (OpenMP's KMP_*); ours are the ones dbt and Dagster read.
ours = ("TESSERA_", "DBT_", "DAGSTER_", "PATH")
changed = sorted(k for k in set(before) | set(os.environ) if k.startswith(ours) and before.get(k) != os.environ.get(k))
print(json.dumps({{"modules": len(names), "changed": changed}}))
"""
    done = subprocess.run(
        [sys.executable, "-c", script], cwd=tmp_path, capture_output=True, text=True, timeout=600, check=False
    )
    assert done.returncode == 0, done.stderr[-3000:]
    report = __import__("json").loads(done.stdout.strip().splitlines()[-1])
    assert report["modules"] > 50
    assert report["changed"] == []
    assert sorted(p.name for p in tmp_path.iterdir()) == []


def test_the_command_line_starts_without_the_model_libraries() -> None:
    """`tessera` (every command imports orchestration.cli) imports no machine-learning library: scikit-learn,
    skops and scipy's optimiser take about a second and a half to import, and are imported where a model is
    fitted, stored or loaded (orchestration/predictions/kept.py)."""
    import subprocess
    import sys

    script = f"""
import json, sys
sys.path.insert(0, {str(PACKAGE.parent)!r})
import orchestration.cli
print(json.dumps(sorted(m for m in ("sklearn", "skops", "scipy.optimize") if m in sys.modules)))
"""
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=600, check=False
    )
    assert done.returncode == 0, done.stderr[-3000:]
    assert __import__("json").loads(done.stdout.strip().splitlines()[-1]) == []
