"""Which nodes build in the audience sandbox's own dbt invocation on Postgres (docs/audiences.md).

The analyst-written audience models (`audience_<name>`, every model in models/audiences/ but the
project's own: macros/audiences/audience_sandbox.sql decides the same) and their unit tests build
logged in as the sandbox role (orchestration/warehouse/postgres_sandbox.py). Everything downstream of
them (their data tests, the memberships, …) builds after, as the build's user: the *tail*. The rest of
the build runs before, in its usual phases, with the sandboxed models and the tail held back.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from orchestration.audiences.rules import PROJECT_MODELS
from orchestration.warehouse.postgres_sandbox import SandboxGrants

AUDIENCES_FOLDER = "models/audiences/"


def is_sandboxed(node: dict[str, Any]) -> bool:
    """Every audience model lives in models/audiences/. (The macro also counts a model named after an
    audience anywhere: built outside the sandbox, such a model fails its pre-hook, so the build fails.)"""
    return (
        node.get("resource_type") == "model"
        and str(node.get("original_file_path") or "").startswith(AUDIENCES_FOLDER)
        and node.get("name") not in PROJECT_MODELS
    )


@dataclass(frozen=True)
class SandboxPlan:
    """Node names by where they build: `sandboxed` (models and unit tests) as the sandbox role,
    `tail` after it as the build's user; `runnable` is every node a `dbt build` may run."""

    sandboxed: frozenset[str]
    tail: frozenset[str]
    runnable: frozenset[str]
    models: tuple[str, ...]
    reads: tuple[str, ...]

    @property
    def held_back(self) -> frozenset[str]:
        """What the usual phases leave out."""
        return self.sandboxed | self.tail

    def exclude_all_but(self, names: frozenset[str]) -> list[str]:
        """Selection arguments for a `dbt build` of exactly `names` (one --exclude value, as the
        phases of outside_dbt.dbt_build_phases: dagster-dbt adds its own --select)."""
        return ["--exclude", " ".join(sorted(self.runnable - names))]

    def sandbox_selection(self) -> list[str]:
        return self.exclude_all_but(self.sandboxed)

    def tail_selection(self) -> list[str]:
        return self.exclude_all_but(self.tail)

    def grants(self, schema: str) -> SandboxGrants:
        """The grants for a build into `schema`. Every model builds in the target schema (the project
        sets no custom schemas), so the relations are named there, whatever schema the manifest was
        parsed for."""
        return SandboxGrants(
            schema=schema, models=self.models, reads=tuple((schema, name) for name in self.reads)
        )

    @classmethod
    def from_manifest(cls, manifest: dict[str, Any]) -> SandboxPlan:
        nodes: dict[str, dict[str, Any]] = manifest.get("nodes", {})
        unit_tests: dict[str, dict[str, Any]] = manifest.get("unit_tests", {})
        children: dict[str, list[str]] = manifest.get("child_map", {})
        sandboxed_ids = {uid for uid, node in nodes.items() if is_sandboxed(node)}
        # Their descendants (data tests, the project's audience models), which build after them.
        tail_ids: set[str] = set()
        stack = list(sandboxed_ids)
        while stack:
            for child in children.get(stack.pop(), []):
                # Unit tests go with their model (below); exposures and the like do not run.
                if child in nodes and child not in tail_ids and child not in sandboxed_ids:
                    tail_ids.add(child)
                    stack.append(child)
        for uid in sandboxed_ids:
            crossing = [p for p in nodes[uid].get("depends_on", {}).get("nodes", []) if p in tail_ids]
            if crossing:
                raise RuntimeError(
                    f"the sandboxed audience model {nodes[uid]['name']} reads {crossing}, which build after "
                    "the sandboxed models: an analyst audience may not read the project's audience tables"
                )
        # A unit test runs its model's SQL: with the model, in the sandbox (or in the tail).
        sandboxed = {nodes[uid]["name"] for uid in sandboxed_ids}
        tail = {nodes[uid]["name"] for uid in tail_ids if nodes[uid].get("resource_type") != "analysis"}
        for test in unit_tests.values():
            model = test.get("model") or ""
            if model in sandboxed:
                sandboxed.add(test["name"])
            elif any(nodes.get(uid, {}).get("name") == model for uid in tail_ids):
                tail.add(test["name"])
        runnable = {
            node["name"]
            for node in [*nodes.values(), *unit_tests.values()]
            if node.get("resource_type") != "analysis"
        }
        reads: set[str] = set()
        for uid in sandboxed_ids:
            reads |= _upstream_relations(nodes, uid)
        models = tuple(sorted(str(nodes[uid].get("alias") or nodes[uid]["name"]) for uid in sandboxed_ids))
        return cls(
            sandboxed=frozenset(sandboxed),
            tail=frozenset(tail),
            runnable=frozenset(runnable),
            models=models,
            reads=tuple(sorted(reads - set(models))),
        )


def _upstream_relations(nodes: dict[str, dict[str, Any]], unique_id: str) -> set[str]:
    """The relations a model reads: its parent models, seeds and snapshots; an ephemeral parent is
    compiled in as a CTE, so its own parents count instead."""
    found: set[str] = set()
    for parent_id in nodes[unique_id].get("depends_on", {}).get("nodes", []):
        parent = nodes.get(parent_id)
        if parent is None or parent.get("resource_type") not in ("model", "seed", "snapshot"):
            continue
        if (parent.get("config") or {}).get("materialized") == "ephemeral":
            found |= _upstream_relations(nodes, parent_id)
        else:
            found.add(str(parent.get("alias") or parent["name"]))
    return found
