"""Person-source declarations (sources/person_sources.yml): the YAML format and its validation."""

from __future__ import annotations

import csv
import difflib
import re
from pathlib import Path
from typing import Any

import yaml  # type: ignore[import-untyped]
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from orchestration.settings import PROJECT_DIR, Settings

#: The standard identity fields a source's columns map to; every person source is staged into these.
STANDARD_FIELDS: tuple[str, ...] = (
    "first_name",
    "last_name",
    "full_name",
    "date_of_birth",
    "email",
    "phone",
    "street",
    "city",
    "postcode",
    "region",
    "country",
)
#: Fields that identify a person on their own (a name, an email, a phone) or help match one.
IDENTITY_FIELDS = frozenset(STANDARD_FIELDS)

#: The ways date_of_birth may be written, as the user names them in `date_format`.
DATE_FORMATS: tuple[str, ...] = (
    "YYYY-MM-DD",
    "DD/MM/YYYY",
    "MM/DD/YYYY",
    "DD.MM.YYYY",
    "DD-MM-YYYY",
    "YYYYMMDD",
)

#: Source names Tessera's own staging uses: a person source may not reuse them (its records would
#: mix with theirs in identity and survivorship, which key records by source and table).
RESERVED_SOURCE_NAMES = frozenset(
    {"crm", "shop", "events", "pos", "support", "esp", "consent", "reference", "person_sources", "truth"}
)

#: Identifier types with their own staging rules: map them as standard fields, not as external ids.
NOT_EXTERNAL_IDS = frozenset({"email", "phone", "anonymous_id"})

#: Settings of an external-id type that neither seeds/identifier_types.csv nor the YAML describes:
#: an account id in another system, as strong as a loyalty card (stronger than email and phone),
#: at most one per customer (two ids of differently named people never merge through a shared email).
DEFAULT_TYPE_PRIORITY = 3
DEFAULT_TYPE_MAX_PER_CUSTOMER = 1

#: Survivorship rank of a person source without `priority`: after every built-in source
#: (seeds/source_priority.csv uses 1-6), before a source nobody ranked (99).
DEFAULT_SOURCE_PRIORITY = 50

NAME = r"^[a-z][a-z0-9_]{0,62}$"
_QUALIFIED_TABLE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*\.[A-Za-z_][A-Za-z0-9_]*$")


class PersonSourceConfigError(ValueError):
    """A person-source declaration is wrong: says which file, which source, which key and why."""

    def __init__(
        self, reason: str, *, file: str | None = None, source: str | None = None, key: str | None = None
    ):
        self.file, self.source, self.key, self.reason = file, source, key, reason
        parts = [file, f"source {source!r}" if source else None, key]
        where = ": ".join(p for p in parts if p)
        super().__init__(f"{where}: {reason}" if where else reason)


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class FieldMapping(_Strict):
    """Standard identity field -> the source's column holding it."""

    first_name: str | None = None
    last_name: str | None = None
    full_name: str | None = None
    date_of_birth: str | None = None
    email: str | None = None
    phone: str | None = None
    street: str | None = None
    city: str | None = None
    postcode: str | None = None
    region: str | None = None
    country: str | None = None

    def mapped(self) -> dict[str, str]:
        return {name: column for name in STANDARD_FIELDS if (column := getattr(self, name)) is not None}


class IdentifierTypeSettings(_Strict):
    """The identity guards' settings for an external-id type (see seeds/identifier_types.csv)."""

    priority: int = Field(default=DEFAULT_TYPE_PRIORITY, ge=1, le=99)
    max_per_customer: int | None = Field(default=DEFAULT_TYPE_MAX_PER_CUSTOMER, ge=1)
    max_group_size: int | None = Field(default=None, ge=1)
    description: str | None = None


class PersonSource(_Strict):
    """One person-record source: a CSV/Parquet file or a warehouse table, and how its columns map."""

    name: str = Field(pattern=NAME)
    file: Path | None = None
    table: str | None = None
    table_name: str | None = Field(default=None, pattern=NAME)
    record_id: str = Field(min_length=1)
    fields: FieldMapping
    external_ids: dict[str, str] = Field(default_factory=dict)
    date_format: str = "YYYY-MM-DD"
    default_country: str | None = Field(default=None, pattern=r"^[A-Z]{2}$")
    priority: int = Field(default=DEFAULT_SOURCE_PRIORITY, ge=1, le=98)
    observed_at: str | None = None
    delimiter: str | None = Field(default=None, min_length=1, max_length=1)
    description: str | None = None

    @field_validator("name")
    @classmethod
    def _not_reserved(cls, name: str) -> str:
        if name in RESERVED_SOURCE_NAMES:
            raise ValueError(f"{name!r} is a built-in source name; choose another (e.g. {name}_import)")
        return name

    @field_validator("table")
    @classmethod
    def _qualified(cls, table: str | None) -> str | None:
        if table is not None and not _QUALIFIED_TABLE.match(table):
            raise ValueError(f"table must be written schema.table, not {table!r}")
        return table

    @field_validator("date_format")
    @classmethod
    def _known_format(cls, value: str) -> str:
        if value not in DATE_FORMATS:
            raise ValueError(f"unknown date_format {value!r}; use one of {', '.join(DATE_FORMATS)}")
        return value

    @field_validator("external_ids")
    @classmethod
    def _id_types(cls, ids: dict[str, str]) -> dict[str, str]:
        for id_type, column in ids.items():
            if not re.match(NAME, id_type):
                raise ValueError(f"id type {id_type!r} must be lower-case letters, digits and _")
            if id_type in NOT_EXTERNAL_IDS:
                raise ValueError(f"{id_type!r} is not an external id: map it under fields")
            if not column:
                raise ValueError(f"id type {id_type!r} names no column")
        return ids

    @model_validator(mode="after")
    def _one_location(self) -> PersonSource:
        if (self.file is None) == (self.table is None):
            raise ValueError("give exactly one of file (a CSV or Parquet file) or table (schema.table)")
        if self.file is not None and self.file.suffix.lower() not in (".csv", ".parquet"):
            raise ValueError(f"file must be a .csv or .parquet file, not {self.file.name!r}")
        if not self.fields.mapped() and not self.external_ids:
            raise ValueError("maps no identity field: map at least a name, email, phone or external id")
        if self.delimiter is not None and self.kind != "csv":
            raise ValueError("delimiter applies to CSV files only")
        return self

    @property
    def kind(self) -> str:
        """csv, parquet or table."""
        if self.file is not None:
            return self.file.suffix.lower().lstrip(".")
        return "table"

    @property
    def table_label(self) -> str:
        """The table_name its records carry: the configured one, else the file stem or table name."""
        if self.table_name:
            return self.table_name
        if self.file is not None:
            return re.sub(r"[^a-z0-9_]", "_", self.file.stem.lower())
        return str(self.table).rpartition(".")[2].lower()

    def columns_used(self) -> dict[str, str]:
        """key in the YAML -> source column, for every column this source reads."""
        used = {"record_id": self.record_id}
        used.update({f"fields.{k}": v for k, v in self.fields.mapped().items()})
        used.update({f"external_ids.{k}": v for k, v in self.external_ids.items()})
        if self.observed_at:
            used["observed_at"] = self.observed_at
        return used


class PersonSourcesFile(_Strict):
    person_sources: list[PersonSource] = Field(default_factory=list)
    identifier_types: dict[str, IdentifierTypeSettings] = Field(default_factory=dict)


class PersonSourcesConfig(BaseModel):
    """Every declared person source (all files merged), with file paths resolved."""

    sources: list[PersonSource]
    identifier_types: dict[str, IdentifierTypeSettings]
    declared_in: dict[str, str]  # source name -> the YAML file declaring it

    def type_settings(self, id_type: str) -> IdentifierTypeSettings | None:
        """Settings for an external-id type not in the seed: declared, else the defaults; None if seeded."""
        if id_type in seeded_identifier_types():
            return None
        return self.identifier_types.get(id_type, IdentifierTypeSettings())


def seeded_identifier_types() -> set[str]:
    with open(PROJECT_DIR / "seeds" / "identifier_types.csv", newline="") as handle:
        return {row["identifier_type"] for row in csv.DictReader(handle)}


def config_paths(settings: Settings) -> list[Path]:
    """The YAML files declaring person sources: the project's, then the data folder's (where
    `tessera generate` declares its demo file). TESSERA_PERSON_SOURCES replaces the project's."""
    return [settings.person_sources_path, settings.data_dir / "person_sources.yml"]


def _format_error(exc: ValidationError, file: str, data: Any) -> PersonSourceConfigError:
    error = exc.errors()[0]
    loc = list(error["loc"])
    source = None
    if len(loc) >= 2 and loc[0] == "person_sources" and isinstance(loc[1], int):
        entries = data.get("person_sources") or []
        entry = entries[loc[1]] if loc[1] < len(entries) else None
        source = str(entry.get("name")) if isinstance(entry, dict) and entry.get("name") else f"#{loc[1] + 1}"
        loc = loc[2:]
    key = ".".join(str(part) for part in loc) or None
    reason = error["msg"].removeprefix("Value error, ")
    if error["type"] == "extra_forbidden":
        if loc[:1] == ["fields"]:
            reason = f"unknown standard field; the fields are {', '.join(STANDARD_FIELDS)}"
        else:
            reason = "unknown key"
    elif error["type"] == "missing":
        reason = "required key is missing"
    return PersonSourceConfigError(reason, file=file, source=source, key=key)


def _shown(path: Path) -> str:
    """A path as a user would type it: relative to the working folder when it is inside it."""
    try:
        return str(path.resolve().relative_to(Path.cwd()))
    except ValueError:
        return str(path)


def parse_file(path: Path) -> PersonSourcesFile:
    """Read and validate one YAML file. File paths in it are resolved relative to its folder."""
    try:
        data = yaml.safe_load(path.read_text()) or {}
    except OSError as exc:
        raise PersonSourceConfigError(f"cannot read the file: {exc.strerror}", file=_shown(path)) from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        raise PersonSourceConfigError(
            f"not valid YAML{where}: {getattr(exc, 'problem', exc)}", file=_shown(path)
        ) from None
    if not isinstance(data, dict):
        raise PersonSourceConfigError("expected a mapping with the key person_sources", file=_shown(path))
    try:
        parsed = PersonSourcesFile.model_validate(data)
    except ValidationError as exc:
        raise _format_error(exc, _shown(path), data) from None
    resolved = [
        source.model_copy(update={"file": (path.parent / source.file).resolve()}) if source.file else source
        for source in parsed.person_sources
    ]
    return parsed.model_copy(update={"person_sources": resolved})


def load_config(settings: Settings) -> PersonSourcesConfig:
    """Every person source declared for these settings; a wrong declaration raises PersonSourceConfigError."""
    sources: list[PersonSource] = []
    types: dict[str, IdentifierTypeSettings] = {}
    declared_in: dict[str, str] = {}
    seeded = seeded_identifier_types()
    labels: dict[tuple[str, str], str] = {}
    for path in config_paths(settings):
        if not path.exists():
            continue
        parsed = parse_file(path)
        for id_type, type_settings in parsed.identifier_types.items():
            if id_type in seeded:
                raise PersonSourceConfigError(
                    "is in seeds/identifier_types.csv; change its settings there",
                    file=_shown(path),
                    key=f"identifier_types.{id_type}",
                )
            if id_type in types and types[id_type] != type_settings:
                raise PersonSourceConfigError(
                    f"declared differently in {declared_in.get('@' + id_type)}",
                    file=_shown(path),
                    key=f"identifier_types.{id_type}",
                )
            types[id_type] = type_settings
            declared_in["@" + id_type] = _shown(path)
        for source in parsed.person_sources:
            label = (source.name, source.table_label)
            if label in labels:
                raise PersonSourceConfigError(
                    f"{source.name}.{source.table_label} is declared twice (also in {labels[label]}); "
                    "give one of them another name or table_name",
                    file=_shown(path),
                    source=source.name,
                )
            labels[label] = _shown(path)
            sources.append(source)
            declared_in[source.name] = _shown(path)
    return PersonSourcesConfig(
        sources=sources,
        identifier_types=types,
        declared_in={k: v for k, v in declared_in.items() if not k.startswith("@")},
    )


def _loose(name: str) -> str:
    return re.sub(r"[^a-z0-9]", "", name.lower())


def check_columns(source: PersonSource, available: list[str], *, file: str | None = None) -> None:
    """Every column the declaration reads must exist in the file or table, by exact name."""
    where = source.file.name if source.file else source.table
    for key, column in source.columns_used().items():
        if column not in available:
            close = [c for c in available if _loose(c) == _loose(column)]
            close = close or difflib.get_close_matches(column, available, n=1, cutoff=0.8)
            hint = f" (did you mean {close[0]!r}?)" if close else ""
            shown = ", ".join(available[:30]) + (" …" if len(available) > 30 else "")
            what = "the record-id column" if key == "record_id" else "column"
            raise PersonSourceConfigError(
                f"{what} {column!r} is not in {where}{hint}; its columns are: {shown}",
                file=file,
                source=source.name,
                key=key,
            )
