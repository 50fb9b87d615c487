"""Journey declarations (journeys/<name>.yml): the YAML format, its validation and the dbt vars.

A journey is a short chain: members enter from one audience, then pass waits and declarative
conditions (audience membership, or a registry trait compared with a literal), and end in one sync
step. No SQL is written here: the conditions are rendered by the journey_members model from these
validated fields. This module imports nothing of the project's other packages, so the audiences'
dbt vars and the sync declarations can both read it without an import cycle."""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path
from typing import Any, Literal

import yaml  # type: ignore[import-untyped]
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)

from orchestration.settings import PROJECT_DIR

JOURNEYS_DIR_ENV = "TESSERA_JOURNEYS_DIR"  # another journeys/ folder (tests, a staging copy)
NAME = r"^[a-z][a-z0-9_]{0,62}$"
_DURATION = re.compile(r"^\s*([1-9][0-9]{0,5})\s*(m|h|d|w)\s*$")
_MINUTES = {"m": 1, "h": 60, "d": 60 * 24, "w": 60 * 24 * 7}
MAX_STEPS = 10
MAX_WAIT_MINUTES = 60 * 24 * 366
COMPARISONS = ("=", "!=", "<", "<=", ">", ">=")
NULL_TESTS = ("is_null", "is_not_null")
ENTRY_TESTS = ("before_entry", "since_entry")
NUMERIC_TYPES = ("bigint", "integer", "double precision", "numeric(18,2)")


class JourneyConfigError(ValueError):
    """A wrong journey file: one line naming the file, the key and the reason."""


def journeys_dir(project_dir: Path = PROJECT_DIR) -> Path:
    """The journeys folder: $TESSERA_JOURNEYS_DIR, or journeys/ in the project."""
    override = os.environ.get(JOURNEYS_DIR_ENV)
    return Path(override) if override else project_dir / "journeys"


def declared_journey_names(directory: Path | None = None) -> frozenset[str]:
    """The journeys a sync may read (`source: {journey: X}`): the names of journeys/*.yml."""
    directory = directory or journeys_dir()
    return frozenset(p.stem for p in directory.glob("*.yml")) if directory.is_dir() else frozenset()


def wait_minutes(text: str) -> int:
    """`30m`, `12h`, `1d`, `2w` as minutes. Raises ValueError."""
    match = _DURATION.match(str(text))
    if not match:
        raise ValueError("a wait is a whole number and a unit m, h, d or w, e.g. '1d' or '12h'")
    minutes = int(match.group(1)) * _MINUTES[match.group(2)]
    if minutes > MAX_WAIT_MINUTES:
        raise ValueError("a wait is at most 366 days")
    return minutes


@dataclass(frozen=True)
class JourneyContext:
    """What a journey may name: declared audiences, registry traits (name -> data type) and syncs
    (name -> the journey its source reads, or None). A field left None is not checked."""

    audiences: frozenset[str] | None = None
    traits: dict[str, str] | None = None
    syncs: dict[str, str | None] | None = field(default=None)


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


def _known_audience(value: str, info: ValidationInfo) -> str:
    context: JourneyContext | None = (info.context or {}).get("journey")
    if context is not None and context.audiences is not None and value not in context.audiences:
        raise ValueError(
            f"unknown audience {value!r}: no audiences/{value}.yml (declared: {', '.join(sorted(context.audiences))})"
        )
    return value


class Entry(_Strict):
    """`entry: {audience: A, include_existing: false}`. A journey enters the members who enter A from
    its launch on (its first build, kept in the journey_launches model); with include_existing true,
    also those already in A then (Braze's canvases enter only users who enter after launch)."""

    audience: str = Field(pattern=NAME)
    include_existing: bool = False

    @field_validator("include_existing", mode="before")
    @classmethod
    def _boolean(cls, value: Any) -> Any:
        if not isinstance(value, bool):
            raise ValueError("must be true or false")
        return value

    @field_validator("audience")
    @classmethod
    def _declared(cls, value: str, info: ValidationInfo) -> str:
        return _known_audience(value, info)


class Condition(_Strict):
    """Exactly one of: `in_audience: A` / `not_in_audience: A` (membership when the step is reached),
    or `trait: T` with `op` (= != < <= > >= with a literal `value`; is_null, is_not_null; and for a
    timestamp trait before_entry or since_entry, against the member's entry into the journey)."""

    in_audience: str | None = Field(default=None, pattern=NAME)
    not_in_audience: str | None = Field(default=None, pattern=NAME)
    trait: str | None = Field(default=None, pattern=NAME)
    op: (
        Literal["=", "!=", "<", "<=", ">", ">=", "is_null", "is_not_null", "before_entry", "since_entry"]
        | None
    ) = None
    value: str | int | float | bool | None = None

    @model_validator(mode="before")
    @classmethod
    def _one(cls, data: Any) -> Any:
        if isinstance(data, dict):
            given = [k for k in ("in_audience", "not_in_audience", "trait") if data.get(k) is not None]
            if len(given) != 1:
                raise ValueError("a condition is exactly one of in_audience, not_in_audience or trait")
            if given[0] != "trait" and ("op" in data or "value" in data):
                raise ValueError("op and value belong to a trait condition")
        return data

    @field_validator("in_audience", "not_in_audience")
    @classmethod
    def _declared(cls, value: str | None, info: ValidationInfo) -> str | None:
        return None if value is None else _known_audience(value, info)

    @model_validator(mode="after")
    def _trait_fits(self, info: ValidationInfo) -> Condition:
        if self.trait is None:
            return self
        if self.op is None:
            raise ValueError(
                f"a trait condition needs an op ({', '.join(COMPARISONS + NULL_TESTS + ENTRY_TESTS)})"
            )
        if self.op in COMPARISONS and self.value is None:
            raise ValueError(f"op {self.op!r} needs a value (a string, number or boolean literal)")
        if self.op not in COMPARISONS and self.value is not None:
            raise ValueError(f"op {self.op!r} takes no value")
        context: JourneyContext | None = (info.context or {}).get("journey")
        if context is None or context.traits is None:
            return self
        if self.trait not in context.traits:
            raise ValueError(
                f"unknown trait {self.trait!r}: not in the trait registry "
                f"(models/marts/traits/_traits__models.yml; known: {', '.join(sorted(context.traits))})"
            )
        data_type = context.traits[self.trait]
        if self.op in ENTRY_TESTS and data_type != "timestamp":
            raise ValueError(f"op {self.op!r} needs a timestamp trait; {self.trait} is {data_type}")
        if self.op in COMPARISONS:
            numeric = isinstance(self.value, int | float) and not isinstance(self.value, bool)
            if data_type in NUMERIC_TYPES and not numeric:
                raise ValueError(f"trait {self.trait} is {data_type}: compare it with a number")
            if data_type == "boolean" and (not isinstance(self.value, bool) or self.op not in ("=", "!=")):
                raise ValueError(f"trait {self.trait} is boolean: use = or != with true or false")
            if data_type in ("varchar", "timestamp", "date") and not isinstance(self.value, str):
                raise ValueError(f"trait {self.trait} is {data_type}: compare it with a quoted string")
            if data_type in ("timestamp", "date"):
                _check_time_literal(str(self.value), self.trait, data_type)
        return self


_TIMESTAMP_LITERAL = re.compile(r"^\d{4}-\d{2}-\d{2}([ T]\d{2}:\d{2}(:\d{2}(\.\d{1,6})?)?)?$")


def _check_time_literal(value: str, trait: str, data_type: str) -> None:
    """A literal compared with a date or timestamp trait must be one, in a form both DuckDB and
    Postgres cast the same way (ISO 8601, no zone: traits are naive UTC); else dbt would fail at run
    time, or a warehouse would read it its own way."""
    example = "'2026-01-31'" if data_type == "date" else "'2026-01-31' or '2026-01-31 08:00:00'"
    text = value.strip()
    valid = _TIMESTAMP_LITERAL.match(text) is not None
    if valid:
        try:
            if data_type == "date":
                valid = len(text) == 10 and date.fromisoformat(text) is not None
            else:
                datetime.fromisoformat(text)
        except ValueError:
            valid = False
    if not valid:
        raise ValueError(
            f"trait {trait} is {data_type}: {value!r} is not a {data_type} literal (e.g. {example}, UTC)"
        )


class Step(_Strict):
    """One step: `wait: 1d`, `condition: {...}` or `sync: <name>` (exactly one key)."""

    wait: str | None = None
    condition: Condition | None = None
    sync: str | None = Field(default=None, pattern=NAME)

    @model_validator(mode="before")
    @classmethod
    def _one(cls, data: Any) -> Any:
        if isinstance(data, dict):
            given = [k for k in ("wait", "condition", "sync") if data.get(k) is not None]
            if len(given) != 1:
                raise ValueError("a step is exactly one of wait, condition or sync")
        return data

    @field_validator("wait")
    @classmethod
    def _duration(cls, value: str | None) -> str | None:
        if value is not None:
            wait_minutes(value)
        return value

    @property
    def kind(self) -> str:
        return "wait" if self.wait is not None else "condition" if self.condition is not None else "sync"


class JourneyConfig(_Strict):
    """One journey: its name (the file's), the entry audience and the steps, ending in one sync."""

    name: str = Field(pattern=NAME)
    description: str | None = None
    entry: Entry
    steps: list[Step] = Field(min_length=1, max_length=MAX_STEPS)

    @field_validator("steps")
    @classmethod
    def _ends_in_sync(cls, steps: list[Step], info: ValidationInfo) -> list[Step]:
        syncs = [index for index, step in enumerate(steps) if step.sync is not None]
        if syncs != [len(steps) - 1]:
            raise ValueError("the last step, and only the last, is a sync step")
        context: JourneyContext | None = (info.context or {}).get("journey")
        sync = steps[-1].sync
        if context is not None and context.syncs is not None and sync is not None:
            if sync not in context.syncs:
                raise ValueError(
                    f"unknown sync {sync!r}: not in the sync file (declared: {', '.join(sorted(context.syncs))})"
                )
            name = info.data.get("name")
            if context.syncs[sync] != name:
                raise ValueError(
                    f"sync {sync!r} must read this journey: give it `source: {{journey: {name}}}`"
                )
        return steps

    @property
    def sync(self) -> str:
        return str(self.steps[-1].sync)

    @property
    def audiences(self) -> list[str]:
        """The entry audience, then those the conditions name (each once)."""
        names = [self.entry.audience]
        for step in self.steps:
            if step.condition is not None:
                for name in (step.condition.in_audience, step.condition.not_in_audience):
                    if name is not None and name not in names:
                        names.append(name)
        return names

    def dbt_var(self) -> dict[str, Any]:
        """The journey as the `journeys` var the journey_members model renders (waits in minutes)."""
        steps: list[dict[str, Any]] = []
        for step in self.steps:
            if step.wait is not None:
                steps.append({"kind": "wait", "minutes": wait_minutes(step.wait)})
            elif step.condition is not None:
                steps.append({"kind": "condition", **step.condition.model_dump(exclude_none=True)})
            else:
                steps.append({"kind": "sync", "sync": step.sync})
        return {
            "name": self.name,
            "entry_audience": self.entry.audience,
            "include_existing": self.entry.include_existing,
            "steps": steps,
        }


def _key(loc: tuple[int | str, ...]) -> str:
    parts: list[str] = []
    for element in loc:
        parts.append(f"[{element}]" if isinstance(element, int) else ("." if parts else "") + str(element))
    return "".join(parts)


def _reason(error: Any) -> str:
    if error["type"] == "extra_forbidden":
        return "unknown key"
    return str(error["msg"]).removeprefix("Value error, ")


def parse_journey(data: Any, *, file: str, context: JourneyContext | None = None) -> JourneyConfig:
    """Validate one parsed journey document; the first problem raises JourneyConfigError in one line."""
    if not isinstance(data, dict):
        raise JourneyConfigError(f"{file}: the file must be a mapping with name, entry and steps")
    try:
        journey = JourneyConfig.model_validate(data, context={"journey": context})
    except ValidationError as exc:
        errors = sorted(exc.errors(include_input=False), key=lambda e: e["type"] != "extra_forbidden")
        first = errors[0]
        key = _key(first["loc"])
        raise JourneyConfigError(f"{file}: {key + ': ' if key else ''}{_reason(first)}") from None
    stem = Path(file).stem
    if file.endswith(".yml") and journey.name != stem:
        raise JourneyConfigError(f"{file}: name: {journey.name!r} must match the file name ({stem}.yml)")
    return journey


def load_journeys(
    directory: Path | None = None, context: JourneyContext | None = None
) -> list[JourneyConfig]:
    """Every journeys/*.yml, validated, in name order. Two journeys may not share a sync."""
    directory = directory or journeys_dir()
    journeys: list[JourneyConfig] = []
    if not directory.is_dir():
        return journeys
    by_sync: dict[str, str] = {}
    for path in sorted(directory.glob("*.yml")):
        try:
            data = yaml.safe_load(path.read_text())
        except yaml.YAMLError as exc:
            mark = getattr(exc, "problem_mark", None)
            where = f" at line {mark.line + 1}" if mark else ""
            raise JourneyConfigError(f"{path}: not valid YAML{where}") from None
        journey = parse_journey(data, file=str(path), context=context)
        if journey.sync in by_sync:
            raise JourneyConfigError(
                f"{path}: steps[{len(journey.steps) - 1}].sync: {journey.sync!r} is already the sync step of "
                f"journey {by_sync[journey.sync]!r}"
            )
        by_sync[journey.sync] = journey.name
        journeys.append(journey)
    return journeys


def journey_dbt_vars(journeys: list[JourneyConfig]) -> dict[str, Any]:
    """The `journeys` var the journey_members model reads at parse time."""
    return {"journeys": [journey.dbt_var() for journey in journeys]}
