"""The retention policies in retention/retention.yml, validated on load."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Literal

import yaml  # type: ignore[import-untyped]
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from orchestration.settings import PROJECT_DIR

RETENTION_FILE = PROJECT_DIR / "retention" / "retention.yml"
IDENTIFIER = r"^[a-z_][a-z0-9_]*$"


class RetentionConfigError(ValueError):
    """The retention file is wrong: the message names the file, the key and the reason."""


class Measure(BaseModel):
    model_config = ConfigDict(extra="forbid")

    kind: Literal["count", "count_distinct", "sum", "min", "max", "visit_seconds"]
    column: str | None = Field(default=None, pattern=IDENTIFIER)
    where: str | None = None
    session_gap_minutes: float = Field(default=30, gt=0)

    @model_validator(mode="after")
    def _column_needed(self) -> Measure:
        if self.kind in ("count_distinct", "sum", "min", "max") and not self.column:
            raise ValueError(f"kind {self.kind} needs a column")
        if self.where is not None and ";" in self.where:
            raise ValueError("where must be one SQL condition (no ';')")
        return self


class Aggregate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    group_by: list[str] = Field(min_length=1)
    measures: dict[str, Measure] = Field(min_length=1)

    @model_validator(mode="after")
    def _names(self) -> Aggregate:
        for name in [*self.group_by, *self.measures]:
            if not re.match(IDENTIFIER, name):
                raise ValueError(f"{name!r} is not a lowercase identifier")
        reserved = {"activity_date", "source_rows", "aggregated_at", *self.group_by}
        clash = reserved & set(self.measures)
        if clash:
            raise ValueError(f"measure names {sorted(clash)} clash with key or bookkeeping columns")
        return self


class Policy(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    source: str = Field(pattern=IDENTIFIER)
    table: str = Field(pattern=IDENTIFIER)
    schema_name: str | None = Field(
        default=None, alias="schema", pattern=IDENTIFIER, description="Default: raw_<source>."
    )
    clock: str = Field(pattern=IDENTIFIER, description="The timestamp column that dates a row.")
    keep_days: int = Field(gt=0)
    aggregate: Aggregate

    @model_validator(mode="after")
    def _person_sources(self) -> Policy:
        # Declared person sources land together in raw_person_sources.records, reloaded whole from their
        # files at every load; the one timestamp that dates a row there is its file's modification time
        # (observed_at is text as the source wrote it, _loaded_at is the time of the last load).
        if self.source == "person_sources" and self.schema_name is None:
            if self.table != "records":
                raise ValueError(
                    "person sources are retained through table records (their external ids follow)"
                )
            if self.clock != "file_modified_at":
                raise ValueError(
                    "the clock of person sources is file_modified_at: a file's records expire keep_days "
                    "after the file last changed (rows of warehouse-table sources have none and are kept)"
                )
        return self

    @property
    def raw_schema(self) -> str:
        return self.schema_name or f"raw_{self.source}"

    @property
    def raw_relation(self) -> str:
        return f'"{self.raw_schema}"."{self.table}"'

    @property
    def aggregate_table(self) -> str:
        return f"{self.source}__{self.table}_daily"


class RetentionFile(BaseModel):
    model_config = ConfigDict(extra="forbid")

    policies: list[Policy] = Field(default_factory=list)

    @model_validator(mode="after")
    def _unique(self) -> RetentionFile:
        seen = set()
        for policy in self.policies:
            key = (policy.source, policy.table)
            if key in seen:
                raise ValueError(f"two policies for {policy.source}.{policy.table}")
            seen.add(key)
        return self


def load_policies(path: Path = RETENTION_FILE) -> list[Policy]:
    """The policies, or RetentionConfigError naming the file, key and reason. No file: no policies."""
    if not path.exists():
        return []
    try:
        data = yaml.safe_load(path.read_text()) or {}
    except yaml.YAMLError as exc:
        raise RetentionConfigError(f"{path.name}: not valid YAML: {exc}") from None
    try:
        return RetentionFile.model_validate(data).policies
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in error['loc']) or '(top)'}: {error['msg']}" for error in exc.errors()
        )
        raise RetentionConfigError(f"{path.name}: {problems}") from None
