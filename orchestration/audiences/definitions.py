"""Analyst configuration, read from the YAML beside what it configures and handed to dbt as vars.

* Audiences: `audiences/<name>.yml`, one file per audience (name, holdout_percent, description,
  rule), and `audiences/_audiences.yml` (global holdout, priority lists, rule parameters).
* Traits: the `customer_traits` columns in `models/marts/traits/_traits__models.yml` that carry a
  `config: meta: trait:` (the registry); each column's data_type is also its contract type.

Why vars: dbt 1.11 renders a model's SQL at parse time to find its ref()s, before it reads the
properties YAML: `config.get('meta')` is '' there, `model.config.meta` is {} and `graph` is empty
(and documented as not to be used to build the DAG). Rule audiences and the union models
(memberships, explanations, …) must know the audiences at parse time to ref() them, and Jinja cannot
read a file. Vars are the one thing dbt reads at parse time that a run can supply, so every dbt
invocation of the project gets them from here (`dbt_vars_args`), and a plain dbt command takes them
as `dbt build --vars "$(tessera audiences vars)"`. Nothing is read at import time.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import Any, Literal

import yaml  # type: ignore[import-untyped]
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from orchestration.audiences.rules import load_project
from orchestration.journeys.config import (
    JOURNEYS_DIR_ENV,
    JourneyContext,
    journey_dbt_vars,
    journeys_dir,
    load_journeys,
)
from orchestration.settings import PROJECT_DIR
from orchestration.source_presets import dbt_vars as source_preset_vars

AUDIENCES_DIR_ENV = "TESSERA_AUDIENCES_DIR"  # another audiences/ folder (tests, a staging copy)
TRAITS_FILE = Path("models") / "marts" / "traits" / "_traits__models.yml"
# Data types both DuckDB and Postgres accept under these names (the contract compares them).
PORTABLE_TYPES = (
    "varchar",
    "bigint",
    "integer",
    "double precision",
    "numeric(18,2)",
    "timestamp",
    "date",
    "boolean",
)


class TraitConfigError(ValueError):
    """A wrong trait registry entry: the message names the file, the trait and what is wrong."""


class TraitSpec(BaseModel):
    """One registry trait: the meta.trait of a customer_traits column, with its name and type."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(pattern=r"^[a-z_][a-z0-9_]{0,62}$")
    data_type: str
    description: str = Field(min_length=1)
    source: Literal["events", "orders"]
    kind: Literal[
        "count",
        "sum",
        "avg",
        "min",
        "max",
        "first",
        "last",
        "most_frequent",
        "distinct_list",
        "distinct_count",
    ]
    property: str | None = Field(default=None, pattern=r"^[a-z_][a-z0-9_]{0,62}$")
    where: str | None = None
    window_days: int | None = Field(default=None, gt=0)


def audiences_dir(project_dir: Path = PROJECT_DIR) -> Path:
    """The audiences folder: $TESSERA_AUDIENCES_DIR, or audiences/ in the project."""
    override = os.environ.get(AUDIENCES_DIR_ENV)
    return Path(override) if override else project_dir / "audiences"


def traits_file(project_dir: Path = PROJECT_DIR) -> Path:
    return project_dir / TRAITS_FILE


def load_traits(path: Path) -> list[TraitSpec]:
    """The trait registry from the customer_traits model's YAML. Raises TraitConfigError."""
    try:
        # libyaml's loader where PyYAML has it: every dbt command of a build reads the registry.
        document = yaml.load(path.read_text(), Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader)) or {}
    except (OSError, yaml.YAMLError) as exc:
        raise TraitConfigError(f"{path}: cannot read the trait registry: {exc}") from exc
    models = [
        m for m in document.get("models") or [] if isinstance(m, dict) and m.get("name") == "customer_traits"
    ]
    if not models:
        raise TraitConfigError(f"{path}: no model customer_traits, so no trait registry")
    traits: list[TraitSpec] = []
    for index, column in enumerate(models[0].get("columns") or []):
        meta = ((column.get("config") or {}).get("meta") or {}) if isinstance(column, dict) else {}
        if "trait" not in meta:
            continue
        name = column.get("name")
        if not isinstance(meta["trait"], dict):
            raise TraitConfigError(
                f"{path}: customer_traits.columns[{index}] ({name}): meta.trait must be a mapping"
            )
        entry = {
            "name": name,
            "data_type": column.get("data_type"),
            "description": column.get("description"),
            **meta["trait"],
        }
        try:
            trait = TraitSpec.model_validate(entry)
        except ValidationError as exc:
            problems = "; ".join(
                f"{'.'.join(str(p) for p in e['loc']) or '(entry)'}: {e['msg']}" for e in exc.errors()
            )
            raise TraitConfigError(f"{path}: trait {name or f'columns[{index}]'}: {problems}") from None
        if trait.data_type not in PORTABLE_TYPES:
            raise TraitConfigError(
                f"{path}: trait {trait.name}: data_type {trait.data_type!r} is not one both warehouses "
                f"accept ({', '.join(PORTABLE_TYPES)})"
            )
        if trait.kind != "count" and trait.property is None:
            raise TraitConfigError(f"{path}: trait {trait.name}: kind {trait.kind} needs a property")
        if any(t.name == trait.name for t in traits):
            raise TraitConfigError(f"{path}: trait {trait.name} is defined twice")
        traits.append(trait)
    return traits


def dbt_vars(project_dir: Path = PROJECT_DIR) -> dict[str, Any]:
    """The vars dbt needs for the analyst configuration: audiences, priority lists, the global
    holdout, the rule parameters, the trait registry and the source presets. Validated first: raises
    AudienceConfigError, TraitConfigError, JourneyConfigError or SourcePresetConfigError (also AudienceSqlRefused for a raw
    `sql:` condition)."""
    project = load_project(audiences_dir(project_dir))
    traits = load_traits(traits_file(project_dir))
    # Journeys (journeys/*.yml) name audiences and traits; their syncs are checked where syncs load.
    # They go with the project's audiences: another audiences folder brings none unless a journeys
    # folder is named too (the same rule as for another sync file).
    other_audiences = bool(os.environ.get(AUDIENCES_DIR_ENV)) and not os.environ.get(JOURNEYS_DIR_ENV)
    journeys = (
        []
        if other_audiences
        else load_journeys(
            journeys_dir(project_dir),
            JourneyContext(
                audiences=frozenset(a.name for a in project.audiences),
                traits={t.name: t.data_type for t in traits},
            ),
        )
    )
    return {
        "audiences": [dict(entry) for entry in project.raw_entries],
        "holdout_global_percent": project.holdout_global_percent,
        "audience_priority_lists": project.priority_lists,
        "audience_lift": project.lift_plan(),
        **project.parameters,
        "traits": [t.model_dump(exclude_none=True) for t in traits],
        **journey_dbt_vars(journeys),
        # Which preset each source's staging reads (sources/presets.yml, docs/sources.md).
        **source_preset_vars(project_dir),
    }


def dbt_vars_args(args: list[str], project_dir: Path = PROJECT_DIR) -> list[str]:
    """`args` with --vars carrying the analyst configuration; --vars already in `args` (a test's or
    an operator's override) are merged over it, so they win."""
    merged = dbt_vars(project_dir)
    rest: list[str] = []
    index = 0
    while index < len(args):
        if args[index] == "--vars" and index + 1 < len(args):
            merged.update(yaml.safe_load(args[index + 1]) or {})
            index += 2
            continue
        rest.append(args[index])
        index += 1
    return [*rest, "--vars", json.dumps(merged, default=str)]


def project_fingerprint(project_dir: Path, target: str) -> str:
    """A hash of every file dbt reads to compile the project, and the target."""
    digest = hashlib.sha256(target.encode())
    files = [project_dir / "dbt_project.yml", project_dir / "profiles.yml"]
    for folder in (
        project_dir / "models",
        project_dir / "macros",
        project_dir / "seeds",
        audiences_dir(project_dir),
    ):
        files.extend(sorted(p for p in folder.rglob("*") if p.is_file()))
    for path in files:
        if path.exists():
            digest.update(
                str(path.relative_to(project_dir) if path.is_relative_to(project_dir) else path).encode()
            )
            digest.update(path.read_bytes())
    return digest.hexdigest()
