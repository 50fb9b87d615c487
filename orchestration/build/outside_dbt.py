"""The Python steps that run between dbt invocations where dbt runs no Python models (Postgres).

On DuckDB the dbt Python models do this work and one `dbt build` does everything. Elsewhere each
step writes `<model>__python` tables into the build schema, and the portable model of the same name
copies its table. So the build is split into phases: everything the first step does not feed, then
the step, then what it feeds up to the next step's models, and so on:

    [up to int_identity__match_record_changes] → identity matching → [up to the feature snapshots]
    → scoring → [the scores and everything downstream]

A phase is "the start models of its step and their descendants, minus those of later steps". No
node of a phase can depend on a later phase (it would then descend from that phase's models too).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Collection
from dataclasses import dataclass
from typing import Any

from orchestration.identity.external import COMPARED_MODEL, MODEL_MODEL, match_outside_dbt
from orchestration.predictions.external import MODELS_MODEL, SCORES_MODEL, score_outside_dbt
from orchestration.settings import Settings
from orchestration.warehouse.registry import get_warehouse

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class OutsideStep:
    """A Python step: it writes `<model>__python` for each of `models`, which build after it."""

    name: str
    models: tuple[str, ...]
    run: Callable[[Settings], dict[str, Any]]

    @property
    def written_tables(self) -> list[str]:
        return [f"{model}__python" for model in self.models]

    def failed_result(self, error: BaseException) -> dict[str, str]:
        """A run_results entry for the failed step, so the audit blocks publishing and says why."""
        return {
            "unique_id": f"model.tessera.{self.models[0]}",
            "status": "error",
            "message": f"{self.name} outside dbt failed: {type(error).__name__}: {error}",
        }


# In build order: matching feeds identity, which feeds the features that scoring reads.
STEPS = (
    OutsideStep("identity matching", (MODEL_MODEL, COMPARED_MODEL), match_outside_dbt),
    OutsideStep("predictions scoring", (MODELS_MODEL, SCORES_MODEL), score_outside_dbt),
)


def outside_steps(settings: Settings) -> list[OutsideStep]:
    return list(STEPS) if get_warehouse(settings).python_steps_outside_dbt else []


def dbt_build_phases(settings: Settings, manifest: dict[str, Any] | None = None) -> list[list[str]]:
    """The selection arguments of each `dbt build` invocation, in order; step i runs between
    invocations i and i + 1.

    Under Dagster pass the manifest: dagster-dbt adds its own `--select` for the run's assets, which
    overrides a second `--select`, but keeps every `--exclude`. So there each phase excludes, by
    name, every node outside it."""
    steps = outside_steps(settings)
    if not steps:
        return [[]]
    starts = [[f"{model}+" for model in step.models] for step in steps]
    if manifest is None:
        phases = [["--exclude", *[s for start in starts for s in start]]]
        for i, start in enumerate(starts):
            later = [s for other in starts[i + 1 :] for s in other]
            phases.append(["--select", *start, *(["--exclude", *later] if later else [])])
        return phases
    runnable = set(_runnable_nodes(manifest).values())
    # One space-separated value: dagster-dbt reads a single value after --exclude.
    return [["--exclude", " ".join(sorted(runnable - phase))] for phase in phase_members(settings, manifest)]


def phase_members(settings: Settings, manifest: dict[str, Any]) -> list[set[str]]:
    """The names of the nodes each `dbt build` invocation runs, in order (as dbt_build_phases): every
    runnable node of `manifest` in exactly one phase. One phase, everything, where no step runs."""
    nodes = _runnable_nodes(manifest)
    steps = outside_steps(settings)
    downstream = [_descendants(manifest, step.models) for step in steps]
    claimed: set[str] = set()
    members: list[set[str]] = []
    for below in reversed(downstream):
        members.append(below - claimed)
        claimed |= below
    members.append(set(nodes) - claimed)
    members.reverse()
    return [{nodes[n] for n in phase} for phase in members]


# No test added to or left out of a selection for its parents. dbt's default ("eager") leaves out a data
# test when it excludes one of the test's parents: a phase that excludes the nodes of the others by name
# would drop every test reading a node of an earlier phase (the analyst audiences' tests, which read
# the sandboxed models, and `person_records_are_placed_or_unresolved`), and no phase would run them.
EXACT = ["--indirect-selection", "empty"]


def select_exactly(names: Collection[str]) -> list[str]:
    """Selection arguments for a `dbt build` of exactly the nodes `names` (EXACT). Cheaper for dbt than
    excluding everything else by name: dbt matches every selection term against every node, and a
    phase's complement is most of the project. Not under dagster-dbt, which puts a --select of its own
    in place of this one."""
    return ["--select", " ".join(sorted(names)), *EXACT]


def _runnable_nodes(manifest: dict[str, Any]) -> dict[str, str]:
    runnable = {**manifest.get("nodes", {}), **manifest.get("unit_tests", {})}
    return {
        unique_id: node["name"]
        for unique_id, node in runnable.items()
        if node.get("resource_type") != "analysis"
    }


def _descendants(manifest: dict[str, Any], models: tuple[str, ...]) -> set[str]:
    children = manifest["child_map"]
    project = manifest["metadata"].get("project_name", "tessera")
    stack = [f"model.{project}.{model}" for model in models]
    missing = [start for start in stack if start not in children]
    if missing:
        raise RuntimeError(f"the dbt manifest has no {missing}: is it compiled for this target?")
    found = set(stack)
    while stack:
        for child in children.get(stack.pop(), []):
            if child not in found:
                found.add(child)
                stack.append(child)
    return found


def drop_written_tables(settings: Settings) -> None:
    """The portable models have copied the steps' tables; those are not published."""
    steps = outside_steps(settings)
    if not steps:
        return
    warehouse = get_warehouse(settings)
    for step in steps:
        for table in step.written_tables:
            warehouse.drop_build_table(table)
