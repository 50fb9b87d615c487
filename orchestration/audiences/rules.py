"""Audience definitions (audiences/<name>.yml and audiences/_audiences.yml): validation, references
and cycles.

dbt compiles rule audiences with macros/audiences/rule_audience.sql, from the same YAML passed as
vars (orchestration/audiences/definitions.py); this module reads it before dbt runs, so a wrong rule fails with the file, the audience and the condition's path
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


class LiftOutcome(BaseModel):
    """An outcome the lift of an audience is measured on, per member, in the days after entering:
    `order` (placed one: a rate), `revenue` (the orders' total: a mean) or `store_visit` (an order in
    a store: a rate)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(pattern=r"^[a-z][a-z0-9_]{0,62}$")
    outcome: Literal["order", "revenue", "store_visit"]
    within_days: int = Field(ge=1, le=365)


class AudienceSpec(BaseModel):
    """One audience file: a SQL audience (model audience_<name>.sql) or a rule audience."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(pattern=NAME)
    holdout_percent: float = Field(default=0, ge=0, le=100)
    description: str | None = None
    rule: Condition | None = None
    # The outcomes its lift is measured on; unset: lift_outcomes in _audiences.yml.
    lift: list[LiftOutcome] | None = None

    @field_validator("lift")
    @classmethod
    def _distinct_outcomes(cls, lift: list[LiftOutcome] | None) -> list[LiftOutcome] | None:
        names = [outcome.name for outcome in lift or []]
        if len(set(names)) != len(names):
            raise ValueError("an outcome name is used twice")
        return lift

    @property
    def model_name(self) -> str:
        return f"audience_{self.name}"


class AudienceProject(BaseModel):
    """Everything in the audiences folder."""

    model_config = ConfigDict(frozen=True)

    audiences: list[AudienceSpec]
    holdout_global_percent: float = Field(default=0, ge=0, le=100)
    # The outcomes every audience with a holdout is measured on, unless its file says `lift:`.
    lift_outcomes: list[LiftOutcome] = Field(default_factory=list)
    priority_lists: dict[str, list[str]] = Field(default_factory=dict)
    # Values a rule reads as {var: name}; dbt receives them as vars (so --vars overrides them).
    parameters: dict[str, Any] = Field(default_factory=dict)
    vars: dict[str, Any] = Field(default_factory=dict)
    # The audience files as written (with name), handed to dbt as var audiences.
    raw_entries: list[dict[str, Any]] = Field(default_factory=list)

    def lift_plan(self) -> list[dict[str, Any]]:
        """Per audience with a holdout, the outcomes its lift is measured on (var audience_lift)."""
        return [
            {
                "audience_name": audience.name,
                "holdout_percent": audience.holdout_percent,
                "outcomes": [
                    o.model_dump()
                    for o in (audience.lift if audience.lift is not None else self.lift_outcomes)
                ],
            }
            for audience in self.audiences
            if audience.holdout_percent > 0
        ]

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


# The project's own models in models/audiences/: not analyst SQL (the same list as the macro
# is_sandboxed_audience in macros/audiences/audience_sandbox.sql). Everything else there is analyst
# SQL: it builds in the sandbox, and its Jinja is checked (orchestration/audiences/jinjacheck.py).
PROJECT_MODELS = frozenset(
    {
        "audience_memberships",
        "audience_membership_history",
        "audience_explanations",
        "audience_overlaps",
        "audience_size_history",
        "audience_priority_list_members",
        "audience_lift",
    }
)

SETTINGS_FILE = "_audiences.yml"
SETTINGS_KEYS = ("holdout_global_percent", "priority_lists", "parameters", "lift_outcomes")


def _read(path: Path) -> Any:
    try:
        return yaml.safe_load(path.read_text())
    except yaml.YAMLError as exc:
        raise AudienceConfigError(f"{path}: not valid YAML: {' '.join(str(exc).split())}") from None
    except OSError as exc:
        raise AudienceConfigError(f"{path}: cannot read the file: {exc}") from None


def load_project(
    audiences_dir: Path, models_dir: Path | None = None, dialect: str = "duckdb"
) -> AudienceProject:
    """Read and validate the audiences folder: one `<name>.yml` per audience and `_audiences.yml`
    (global holdout, priority lists, parameters); with `models_dir`, also check that every audience
    has its model file. Raises AudienceConfigError naming the file."""
    if not audiences_dir.is_dir():
        raise AudienceConfigError(f"{audiences_dir}: no audiences folder (one <name>.yml per audience)")
    settings_path = audiences_dir / SETTINGS_FILE
    settings = _read(settings_path) if settings_path.exists() else {}
    if not isinstance(settings, dict):
        raise AudienceConfigError(f"{settings_path}: must be a mapping of {', '.join(SETTINGS_KEYS)}")
    unknown = sorted(set(settings) - set(SETTINGS_KEYS))
    if unknown:
        raise AudienceConfigError(
            f"{settings_path}: unknown key {', '.join(unknown)} (known: {', '.join(SETTINGS_KEYS)})"
        )
    parameters = settings.get("parameters") or {}
    if not isinstance(parameters, dict) or not all(
        re.match(r"^[A-Za-z_][A-Za-z0-9_]*$", str(k)) for k in parameters
    ):
        raise AudienceConfigError(f"{settings_path}: parameters must map names to values")
    audiences: list[AudienceSpec] = []
    entries: list[dict[str, Any]] = []
    files = sorted(
        p for p in audiences_dir.iterdir() if p.suffix in (".yml", ".yaml") and not p.name.startswith("_")
    )
    for path in files:
        entry = _read(path)
        if not isinstance(entry, dict):
            raise AudienceConfigError(
                f"{path}: an audience file is a mapping (name, holdout_percent, description, rule)"
            )
        entry = {"name": path.stem, **entry}
        label = entry.get("name")
        if label != path.stem:
            raise AudienceConfigError(
                f"{path}: name {label!r} differs from the file name; call the file {label}.yml"
            )
        try:
            audiences.append(AudienceSpec.model_validate(entry))
        except ValidationError as exc:
            problems = "; ".join(f"{_location(e) or '(entry)'}: {e['msg']}" for e in exc.errors())
            raise AudienceConfigError(f"{path}: audience {label}: {problems}") from None
        entries.append(entry)
    try:
        global_percent = float(settings.get("holdout_global_percent", 0))
    except (TypeError, ValueError):
        raise AudienceConfigError(f"{settings_path}: holdout_global_percent must be a number") from None
    if not 0 <= global_percent <= 100:
        raise AudienceConfigError(f"{settings_path}: holdout_global_percent must be between 0 and 100")
    try:
        lift_outcomes = [LiftOutcome.model_validate(o) for o in settings.get("lift_outcomes") or []]
    except ValidationError as exc:
        problems = "; ".join(f"{_location(e) or '(entry)'}: {e['msg']}" for e in exc.errors())
        raise AudienceConfigError(f"{settings_path}: lift_outcomes: {problems}") from None
    if len({o.name for o in lift_outcomes}) != len(lift_outcomes):
        raise AudienceConfigError(f"{settings_path}: lift_outcomes: an outcome name is used twice")
    project = _check(
        audiences_dir,
        settings_path,
        audiences,
        parameters,
        settings.get("priority_lists"),
        models_dir,
        dialect,
    )
    return project.model_copy(
        update={
            "holdout_global_percent": settings.get("holdout_global_percent", 0),
            "raw_entries": entries,
            "lift_outcomes": lift_outcomes,
        }
    )


def _check(
    audiences_dir: Path,
    settings_path: Path,
    audiences: list[AudienceSpec],
    parameters: dict[str, Any],
    lists: Any,
    models_dir: Path | None,
    dialect: str,
) -> AudienceProject:
    names = [a.name for a in audiences]
    rule_columns: dict[str, list[str]] = {}
    for name in names:
        if names.count(name) > 1:
            raise AudienceConfigError(f"{audiences_dir}: audience {name} is defined twice")
    for audience in audiences:
        if audience.rule is None:
            continue
        where = audiences_dir / f"{audience.name}.yml"
        columns: list[str] = []
        for path, condition in walk(audience.rule, "1"):
            label = f"{where}: audience {audience.name}, condition {path}"
            if condition.name or condition.kind not in ("all", "any", "not"):
                columns.append(condition.name or "condition_" + path.replace(".", "_"))
            if condition.in_audience is not None and condition.in_audience not in names:
                raise AudienceConfigError(f"{label}: in_audience {condition.in_audience} is not an audience")
            if condition.sql is not None:
                try:
                    check_sandboxed(audience.name, condition.sql, dialect, what=f"sql condition {path}")
                except AudienceSqlRefused as exc:
                    raise AudienceConfigError(f"{where}: {exc}") from None
            for value in _var_refs(condition):
                if value.var not in parameters:
                    raise AudienceConfigError(
                        f"{label}: {{var: {value.var}}} is not a parameter in {settings_path}"
                    )
        rule_columns[audience.name] = columns
        for column in columns:
            if columns.count(column) > 1 or column in ("customer_id", "is_member"):
                raise AudienceConfigError(
                    f"{where}: audience {audience.name}: condition name {column} is used twice (or is reserved)"
                )
    cycle = find_cycle(audiences)
    if cycle:
        raise AudienceConfigError(
            f"{audiences_dir}: in_audience references form a cycle: {' -> '.join(cycle)}"
        )
    lists = lists or {}
    if not isinstance(lists, dict):
        raise AudienceConfigError(f"{settings_path}: priority_lists must map list names to audiences")
    for list_name, members in lists.items():
        if not isinstance(members, list) or not members:
            raise AudienceConfigError(f"{settings_path}: priority list {list_name} needs a list of audiences")
        for member in members:
            if member not in names:
                raise AudienceConfigError(
                    f"{settings_path}: priority list {list_name} names unknown audience {member}"
                )
        if len(set(members)) != len(members):
            raise AudienceConfigError(f"{settings_path}: priority list {list_name} names an audience twice")
    if models_dir is not None:
        contracts = _model_contracts(models_dir)
        for audience in audiences:
            source = audiences_dir / f"{audience.name}.yml"
            _check_contract(
                audience, contracts.get(audience.model_name), models_dir, rule_columns.get(audience.name)
            )
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
                    f"audience {audience.name} has a rule in {source}, but {model_file} is not the one line "
                    f"{{{{ tessera.rule_audience('{audience.name}') }}}}"
                )
            if audience.rule is None and stub is not None:
                raise AudienceConfigError(
                    f"audience {audience.name}: {model_file} compiles a rule, but {source} has no rule:"
                )
    return AudienceProject(
        audiences=audiences,
        priority_lists=lists,
        parameters=parameters,
        vars=parameters,
    )


def _model_contracts(models_dir: Path) -> dict[str, dict[str, Any]]:
    """model name -> its properties, from every YAML file in `models_dir`."""
    found: dict[str, dict[str, Any]] = {}
    for path in sorted(models_dir.glob("*.yml")):
        for model in (_read(path) or {}).get("models") or []:
            if isinstance(model, dict) and "name" in model:
                found[model["name"]] = {**model, "_file": path}
    return found


def _check_contract(
    audience: AudienceSpec,
    properties: dict[str, Any] | None,
    models_dir: Path,
    rule_columns: list[str] | None,
) -> None:
    """Every audience model is public: its contract is enforced and lists customer_id (varchar), each
    condition and is_member (boolean); a rule audience's conditions are exactly its rule's columns."""
    wanted = ["customer_id", *(rule_columns or []), "is_member"]
    listing = "; ".join(f"{c}: {'varchar' if c == 'customer_id' else 'boolean'}" for c in wanted)
    where = f"audience {audience.name}: {audience.model_name}"
    if properties is None or not ((properties.get("config") or {}).get("contract") or {}).get("enforced"):
        raise AudienceConfigError(
            f"{where} has no enforced contract in a YAML file of {models_dir}; add config: contract: "
            f"{{enforced: true}} and its columns with data_type ({listing}{'; …' if rule_columns is None else ''})"
        )
    columns: dict[str, Any] = {
        str(c.get("name")): c.get("data_type") for c in properties.get("columns") or [] if isinstance(c, dict)
    }
    file = properties["_file"]
    for required, data_type in (("customer_id", "varchar"), ("is_member", "boolean")):
        if columns.get(required) != data_type:
            raise AudienceConfigError(
                f"{file}: {where}: the contract needs column {required} with data_type {data_type}"
            )
    wrong = sorted(c for c, t in columns.items() if c not in ("customer_id", "is_member") and t != "boolean")
    if wrong:
        raise AudienceConfigError(f"{file}: {where}: conditions are boolean; {', '.join(wrong)} is not")
    if rule_columns is not None and set(columns) != set(wanted):
        missing = [c for c in wanted if c not in columns]
        extra = sorted(set(columns) - set(wanted))
        raise AudienceConfigError(
            f"{file}: {where}: the contract's columns differ from the rule's conditions"
            + (f"; missing {', '.join(missing)}" if missing else "")
            + (f"; not in the rule {', '.join(extra)}" if extra else "")
            + f" (the columns are {listing})"
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
