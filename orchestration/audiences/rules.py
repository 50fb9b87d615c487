"""Audience definitions (var audiences in dbt_project.yml): validation, references and cycles.

dbt compiles rule audiences with macros/audiences/rule_audience.sql; this module reads the same
YAML before dbt runs, so a wrong rule fails with the file, the audience and the condition's path
instead of a Jinja error in the middle of a build.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any, Literal

import yaml  # type: ignore[import-untyped]
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from orchestration.audiences.sqlcheck import AudienceSqlRefused, check_sandboxed

NAME = r"^[a-z][a-z0-9_]{0,53}$"  # audience_<name> must fit Postgres' 63-character identifiers
COLUMN = r"^[a-z_][a-z0-9_]{0,62}$"
KINDS = ("all", "any", "not", "trait", "count", "event", "in_audience", "consent", "near_store", "sql")
COUNT_SOURCES = ("events", "orders", "order_items")
STUB = re.compile(r"^\s*\{\{\s*tessera\.rule_audience\(\s*['\"]([a-z0-9_]+)['\"]\s*\)\s*\}\}\s*$")


class AudienceConfigError(ValueError):
    """A wrong audience definition: the message names the file, the audience and what is wrong."""


class VarRef(BaseModel):
    """{var: name}: the value of a project var."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    var: str = Field(pattern=r"^[A-Za-z_][A-Za-z0-9_]*$")


Scalar = str | int | float | bool
Value = VarRef | Scalar | list[Scalar]


class Condition(BaseModel):
    """One node of a rule: a group (all/any/not) or one leaf condition (see docs/audiences.md)."""

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    name: str | None = Field(default=None, pattern=COLUMN)
    all: list[Condition] | None = None
    any: list[Condition] | None = None
    not_: Condition | None = Field(default=None, alias="not")
    trait: str | None = Field(default=None, pattern=COLUMN)
    op: Literal["=", "!=", ">", ">=", "<", "<=", "in", "not_in", "is_null", "is_not_null"] | None = None
    value: Value | None = None
    count: Literal["events", "orders", "order_items"] | VarRef | None = None
    event: str | list[str] | None = None
    where: dict[str, Value] | None = None
    within_days: int | VarRef | None = None
    from_: str | VarRef | None = Field(default=None, alias="from")
    to: str | VarRef | None = None
    at_least: int | VarRef | None = None
    at_most: int | VarRef | None = None
    in_audience: str | None = Field(default=None, pattern=NAME)
    consent: str | VarRef | None = None
    near_store: str | VarRef | None = None
    within_km: float | VarRef | None = None
    sql: str | None = None

    @model_validator(mode="before")
    @classmethod
    def _one_kind(cls, data: Any) -> Any:
        if not isinstance(data, dict):
            raise ValueError(f"a condition is a mapping, not {type(data).__name__} {data!r}")
        kinds = [k for k in KINDS if k in data]
        if len(kinds) != 1:
            raise ValueError(
                f"a condition needs exactly one of {', '.join(KINDS)}; found {', '.join(kinds) or 'none'}"
            )
        kind = kinds[0]
        allowed = {
            "all": set(),
            "any": set(),
            "not": set(),
            "trait": {"op", "value"},
            "count": {"where", "within_days", "from", "to", "at_least", "at_most"},
            "event": {"where", "within_days", "from", "to", "at_least", "at_most"},
            "in_audience": set(),
            "consent": set(),
            "near_store": {"within_km"},
            "sql": set(),
        }[kind] | {kind, "name"}
        extra = sorted(set(data) - allowed)
        if extra:
            raise ValueError(f"a {kind} condition does not take {', '.join(extra)}")
        return data

    @field_validator("where")
    @classmethod
    def _columns(cls, where: dict[str, Any] | None) -> dict[str, Any] | None:
        for column in where or {}:
            if not re.match(COLUMN, column):
                raise ValueError(f"where: {column!r} is not a column name")
        return where

    @model_validator(mode="after")
    def _complete(self) -> Condition:
        if self.trait is not None:
            op = self.op or "="
            if op in ("is_null", "is_not_null"):
                if self.value is not None:
                    raise ValueError(f"op {op} takes no value")
            elif self.value is None:
                raise ValueError(f"trait {self.trait}: op {op} needs a value")
            elif op in ("in", "not_in") and not isinstance(self.value, list | VarRef):
                raise ValueError(f"trait {self.trait}: op {op} needs a list value")
        if (self.count is not None or self.event is not None) and self.within_days is not None:
            if self.from_ is not None or self.to is not None:
                raise ValueError("use within_days or from/to, not both")
            if isinstance(self.within_days, int) and self.within_days <= 0:
                raise ValueError("within_days must be positive")
        for bound in (self.from_, self.to):
            if isinstance(bound, str) and not re.match(r"^\d{4}-\d{2}-\d{2}$", bound):
                raise ValueError(f"from/to must be dates like 2025-08-01, not {bound!r}")
        if self.near_store is not None and self.within_km is None:
            raise ValueError("near_store needs within_km")
        for group in (self.all, self.any):
            if group is not None and not group:
                raise ValueError("all/any needs at least one condition")
        return self

    @property
    def kind(self) -> str:
        for kind in KINDS:
            if getattr(self, "not_" if kind == "not" else kind) is not None:
                return kind
        raise AssertionError("validated conditions have a kind")

    def children(self) -> list[Condition]:
        if self.not_ is not None:
            return [self.not_]
        return list(self.all or self.any or [])


Condition.model_rebuild()


class AudienceSpec(BaseModel):
    """One entry of var audiences: a SQL audience (model audience_<name>.sql) or a rule audience."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(pattern=NAME)
    holdout_percent: float = Field(default=0, ge=0, le=100)
    description: str | None = None
    rule: Condition | None = None

    @property
    def model_name(self) -> str:
        return f"audience_{self.name}"


class AudienceProject(BaseModel):
    """Everything about audiences in the project's vars."""

    model_config = ConfigDict(frozen=True)

    audiences: list[AudienceSpec]
    holdout_global_percent: float = Field(default=0, ge=0, le=100)
    priority_lists: dict[str, list[str]] = Field(default_factory=dict)
    vars: dict[str, Any] = Field(default_factory=dict)

    def find(self, name: str) -> AudienceSpec:
        for audience in self.audiences:
            if audience.name == name:
                return audience
        raise KeyError(f"no audience {name!r}; known: {', '.join(a.name for a in self.audiences)}")


def _location(error: Any) -> str:
    parts = []
    for part in error.get("loc", ()):
        parts.append(f"[{part}]" if isinstance(part, int) else f".{part}")
    return "".join(parts).lstrip(".")


def walk(condition: Condition, path: str = "1") -> list[tuple[str, Condition]]:
    """Every node of a rule with its path (1, 1.1, 1.2, …), depth first."""
    found = [(path, condition)]
    for index, child in enumerate(condition.children(), start=1):
        found.extend(walk(child, f"{path}.{index}"))
    return found


def _references(condition: Condition) -> list[str]:
    return [c.in_audience for _, c in walk(condition, "1") if c.in_audience is not None]


def find_cycle(audiences: list[AudienceSpec]) -> list[str] | None:
    """The first chain of in_audience references that comes back to where it started, if any."""
    edges = {a.name: _references(a.rule) if a.rule else [] for a in audiences}

    def visit(name: str, chain: list[str]) -> list[str] | None:
        for other in edges.get(name, []):
            if other in chain:
                return chain[chain.index(other) :] + [other]
            found = visit(other, chain + [other])
            if found:
                return found
        return None

    for start in edges:
        cycle = visit(start, [start])
        if cycle:
            return cycle
    return None


def load_project(
    project_file: Path, models_dir: Path | None = None, dialect: str = "duckdb"
) -> AudienceProject:
    """Read and validate the audience vars of `project_file` (dbt_project.yml); with `models_dir`,
    also check that every audience has its model file. Raises AudienceConfigError."""
    try:
        document = yaml.safe_load(project_file.read_text()) or {}
    except yaml.YAMLError as exc:
        raise AudienceConfigError(f"{project_file}: not valid YAML: {exc}") from exc
    variables = document.get("vars") or {}
    raw = variables.get("audiences") or []
    if not isinstance(raw, list):
        raise AudienceConfigError(f"{project_file}: vars.audiences must be a list of audiences")
    audiences: list[AudienceSpec] = []
    for index, entry in enumerate(raw):
        label = entry.get("name") if isinstance(entry, dict) else None
        try:
            audiences.append(AudienceSpec.model_validate(entry))
        except ValidationError as exc:
            problems = "; ".join(f"{_location(e) or '(entry)'}: {e['msg']}" for e in exc.errors())
            raise AudienceConfigError(
                f"{project_file}: vars.audiences[{index}] ({label or 'unnamed'}): {problems}"
            ) from None
    return _check(project_file, audiences, variables, models_dir, dialect)


def _check(
    project_file: Path,
    audiences: list[AudienceSpec],
    variables: dict[str, Any],
    models_dir: Path | None,
    dialect: str,
) -> AudienceProject:
    where = f"{project_file}: vars.audiences"
    names = [a.name for a in audiences]
    for name in names:
        if names.count(name) > 1:
            raise AudienceConfigError(f"{where}: audience {name} is defined twice")
    for audience in audiences:
        if audience.rule is None:
            continue
        columns: list[str] = []
        for path, condition in walk(audience.rule, "1"):
            label = f"{where} ({audience.name}), condition {path}"
            if condition.name or condition.kind not in ("all", "any", "not"):
                columns.append(condition.name or "condition_" + path.replace(".", "_"))
            if condition.in_audience is not None and condition.in_audience not in names:
                raise AudienceConfigError(f"{label}: in_audience {condition.in_audience} is not an audience")
            if condition.sql is not None:
                try:
                    check_sandboxed(audience.name, condition.sql, dialect, what=f"sql condition {path}")
                except AudienceSqlRefused as exc:
                    raise AudienceConfigError(f"{project_file}: {exc}") from None
            for value in _var_refs(condition):
                if value.var not in variables:
                    raise AudienceConfigError(f"{label}: {{var: {value.var}}} is not a var in {project_file}")
        for column in columns:
            if columns.count(column) > 1 or column in ("customer_id", "is_member"):
                raise AudienceConfigError(
                    f"{where} ({audience.name}): condition name {column} is used twice (or is reserved)"
                )
    cycle = find_cycle(audiences)
    if cycle:
        raise AudienceConfigError(f"{where}: in_audience references form a cycle: {' -> '.join(cycle)}")
    lists = variables.get("audience_priority_lists") or {}
    if not isinstance(lists, dict):
        raise AudienceConfigError(
            f"{project_file}: vars.audience_priority_lists must map list names to audiences"
        )
    for list_name, members in lists.items():
        if not isinstance(members, list) or not members:
            raise AudienceConfigError(f"{project_file}: priority list {list_name} needs a list of audiences")
        for member in members:
            if member not in names:
                raise AudienceConfigError(
                    f"{project_file}: priority list {list_name} names unknown audience {member}"
                )
        if len(set(members)) != len(members):
            raise AudienceConfigError(f"{project_file}: priority list {list_name} names an audience twice")
    if models_dir is not None:
        for audience in audiences:
            model_file = models_dir / f"{audience.model_name}.sql"
            if not model_file.exists():
                hint = (
                    f"create it with the one line {{{{ tessera.rule_audience('{audience.name}') }}}}"
                    if audience.rule
                    else "write its SQL there (one row per customer, boolean conditions, is_member)"
                )
                raise AudienceConfigError(f"audience {audience.name}: {model_file} does not exist; {hint}")
            stub = STUB.match(model_file.read_text())
            if audience.rule is not None and (stub is None or stub.group(1) != audience.name):
                raise AudienceConfigError(
                    f"audience {audience.name} has a rule in {project_file}, but {model_file} is not the one line "
                    f"{{{{ tessera.rule_audience('{audience.name}') }}}}"
                )
            if audience.rule is None and stub is not None:
                raise AudienceConfigError(
                    f"audience {audience.name}: {model_file} compiles a rule, but its entry in {project_file} has no rule:"
                )
    return AudienceProject(
        audiences=audiences,
        holdout_global_percent=variables.get("holdout_global_percent", 0),
        priority_lists=lists,
        vars=variables,
    )


def _var_refs(condition: Condition) -> list[VarRef]:
    values: list[Any] = [
        condition.value,
        condition.count,
        condition.within_days,
        condition.from_,
        condition.to,
        condition.at_least,
        condition.at_most,
        condition.consent,
        condition.near_store,
        condition.within_km,
        *(condition.where or {}).values(),
    ]
    return [v for v in values if isinstance(v, VarRef)]


def rule_expression(condition: Condition, path: str = "1") -> str:
    """The rule as a boolean expression over its condition columns, e.g. `(a and (b or c))`."""
    kind = condition.kind
    if kind in ("all", "any"):
        joined = f" {'and' if kind == 'all' else 'or'} ".join(
            rule_expression(child, f"{path}.{index}")
            for index, child in enumerate(condition.children(), start=1)
        )
        return f"({joined})"
    if kind == "not":
        return f"not {rule_expression(condition.children()[0], f'{path}.1')}"
    return condition.name or "condition_" + path.replace(".", "_")
