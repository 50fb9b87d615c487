"""Source-preset declarations (sources/presets.yml): the YAML format, its validation and the dbt vars it becomes."""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any

import yaml  # type: ignore[import-untyped]
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from orchestration.settings import PROJECT_DIR, Settings

#: Another presets file (tests, a second deployment); by default <repo>/sources/presets.yml.
PRESETS_FILE_ENV = "TESSERA_SOURCE_PRESETS"

#: The presets each source system can be read with. `demo` is the raw contract Tessera's own generator
#: writes (docs/raw_schema.md), loaded into raw_<source>; the others read a loader's tables in place.
PRESETS: dict[str, tuple[str, ...]] = {
    "events": ("demo", "segment", "rudderstack", "snowplow", "mapped"),
    "shop": ("demo", "fivetran"),
    "crm": ("demo", "fivetran_hubspot"),
    "support": ("demo", "fivetran_zendesk"),
    "esp": ("demo", "fivetran_klaviyo"),
}
DEFAULT_PRESET = "demo"

#: The staging columns of stg_events__tracks that come from a track call's properties, and the property
#: column (in the per-event table) each is read from unless `event_properties` says otherwise. These are
#: the property names of Segment's e-commerce spec (Product Viewed, Order Completed, …).
EVENT_PROPERTIES: dict[str, str] = {
    "product_id": "product_id",
    "product_category": "category",
    "price": "price",
    "order_id": "order_id",
    "revenue": "revenue",
}

#: The snowplow preset's defaults for the same columns: the atomic events table's legacy ecommerce columns
#: (a transaction's tr_*, a transaction item's ti_*); `event_properties` names other atomic columns.
SNOWPLOW_EVENT_PROPERTIES: dict[str, str] = {
    "product_id": "ti_sku",
    "product_category": "ti_category",
    "price": "ti_price",
    "order_id": "tr_orderid",
    "revenue": "tr_total",
}

#: The column roles of the mapped preset's one event table (`columns:`): the role -> what its column holds.
#: event and timestamp are required, and at least one of user_id / anonymous_id.
MAPPED_COLUMN_ROLES: dict[str, str] = {
    "event": "the event name",
    "timestamp": "when the event happened",
    "user_id": "the user id the app knows the person by",
    "anonymous_id": "the device's or cookie's anonymous id",
    "message_id": "the event's id, the key repeated deliveries are found by",
    "properties": "a JSON column holding the event's properties",
    "loaded_at": "when the loader wrote the row",
}

#: The schemas the raw-file load writes (raw_<source>); a preset read in place may not use them.
RESERVED_SCHEMA_PREFIX = "raw_"

#: Names a declared database file may not take: DuckDB's own catalogs, and the alias Tessera's own
#: connections give the published file (orchestration/warehouse/connection.py).
RESERVED_DATABASES = frozenset(
    {"main", "memory", "system", "temp", "warehouse", "information_schema", "pg_catalog"}
)

_IDENTIFIER = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_PREFIX = re.compile(r"^[A-Za-z0-9_]*$")
_CANONICAL_EVENT = re.compile(r"^[a-z][a-z0-9_]{0,62}$")


class SourcePresetConfigError(ValueError):
    """A source-preset declaration is wrong: says which file, which key and why, in one line."""

    def __init__(self, reason: str, *, file: str | None = None, key: str | None = None):
        self.file, self.key, self.reason = file, key, reason
        where = ": ".join(part for part in (file, key) if part)
        super().__init__(f"{where}: {reason}" if where else reason)


class MappedColumns(BaseModel):
    """The mapped preset's `columns:`: which column of the table plays each role (MAPPED_COLUMN_ROLES)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    event: str
    timestamp: str
    user_id: str | None = None
    anonymous_id: str | None = None
    message_id: str | None = None
    properties: str | None = None
    loaded_at: str | None = None

    @field_validator("*")
    @classmethod
    def _column(cls, value: str | None) -> str | None:
        if value is not None and not _IDENTIFIER.match(str(value)):
            raise ValueError(f"{value!r} is not a column name (letters, digits and _)")
        return value

    def roles(self) -> dict[str, str]:
        """{role: column} of the roles mapped."""
        return {role: column for role, column in self.model_dump().items() if column is not None}


class SourceDeclaration(BaseModel):
    """One source system: the preset its raw tables follow, and where they are."""

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    preset: str
    database: str | None = None
    schema_name: str | None = Field(default=None, alias="schema")
    table_prefix: str = ""
    # events only: the source's event name (event_text or the `event` slug) -> Tessera's canonical name.
    event_names: dict[str, str] = Field(default_factory=dict)
    # events only: staging column -> the property column holding it in the per-event tables.
    event_properties: dict[str, str] = Field(default_factory=dict)
    # the mapped preset only: its one event table, which column plays which role, and the event name that
    # is a page view.
    table: str | None = None
    columns: MappedColumns | None = None
    page_event: str | None = None

    @field_validator("database", "schema_name", "table")
    @classmethod
    def _identifier(cls, value: str | None) -> str | None:
        if value is not None and not _IDENTIFIER.match(value):
            raise ValueError(f"{value!r} is not a plain identifier (letters, digits and _)")
        return value

    @field_validator("table_prefix")
    @classmethod
    def _prefix(cls, value: str) -> str:
        if not _PREFIX.match(value):
            raise ValueError(f"{value!r} may hold only letters, digits and _")
        return value

    @field_validator("event_names")
    @classmethod
    def _event_names(cls, names: dict[str, str]) -> dict[str, str]:
        for source_name, canonical in names.items():
            if not str(source_name).strip():
                raise ValueError("an event name to map is empty")
            if not _CANONICAL_EVENT.match(str(canonical)):
                raise ValueError(
                    f"{source_name!r} maps to {canonical!r}; a canonical event name is lower-case "
                    "letters, digits and _ (e.g. order_completed)"
                )
        return names

    @field_validator("event_properties")
    @classmethod
    def _event_properties(cls, mapping: dict[str, str]) -> dict[str, str]:
        for column, prop in mapping.items():
            if column not in EVENT_PROPERTIES:
                raise ValueError(
                    f"unknown staging column {column!r}; the columns are {', '.join(EVENT_PROPERTIES)}"
                )
            if not _IDENTIFIER.match(str(prop)):
                raise ValueError(f"{column}: {prop!r} is not a column name (letters, digits and _)")
        return mapping


class PresetsFile(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    sources: dict[str, SourceDeclaration] = Field(default_factory=dict)
    # A loader's own database file, by the name a declaration's `database:` gives it: the path, relative
    # to the presets file. dbt attaches each (read-only) at the start of every build.
    databases: dict[str, str] = Field(default_factory=dict)


class SourcePresets(BaseModel):
    """Every source system's declaration, defaults filled in: a system not declared uses the demo preset."""

    model_config = ConfigDict(frozen=True)

    sources: dict[str, SourceDeclaration]
    path: Path | None = None
    # {name: absolute path} of each database file declared under `databases:`.
    databases: dict[str, Path] = Field(default_factory=dict)

    def preset(self, system: str) -> str:
        return self.sources[system].preset

    def database_file(self, name: str | None) -> Path | None:
        """The declared file a source's `database:` names (DuckDB's catalog names ignore case), or None
        for no name, or a database of the warehouse itself."""
        if not name:
            return None
        return next(
            (file for declared, file in self.databases.items() if declared.lower() == name.lower()), None
        )


def presets_path(project_dir: Path = PROJECT_DIR) -> Path:
    """The presets file: TESSERA_SOURCE_PRESETS, else <project>/sources/presets.yml; but while that file
    declares no source of the user's own (none, or every one on demo) and `tessera demo` wrote the demo's
    sources as the loaders' tables into this target's warehouse, the demo's declarations
    (demo_presets_file): the demo has those systems only as loader tables. Every command that builds,
    erases, retains or reports reads the presets through here, so they all see the same sources."""
    configured = os.environ.get(PRESETS_FILE_ENV)
    path = Path(configured) if configured else project_dir / "sources" / "presets.yml"
    settings = Settings.from_env()
    demo = demo_presets_file(settings.data_dir, settings.target)
    if demo.exists() and not _declares_sources(path):
        return demo
    return path


def demo_presets_file(data_dir: Path, target: str) -> Path:
    """Where `tessera demo` declares the demo's loader tables for the warehouse of `target` (the data
    folder is shared between targets: only a warehouse the demo wrote them into has such a file)."""
    return data_dir / f"presets.{target}.yml"


def _declares_sources(path: Path) -> bool:
    """True when the file declares a source on a preset other than demo, or cannot be read (then it is
    the file to report on)."""
    if not path.exists():
        return False
    try:
        data = yaml.safe_load(path.read_text()) or {}
        sources = data.get("sources") or {}
        return any(
            (declaration or {}).get("preset", DEFAULT_PRESET) != DEFAULT_PRESET
            for declaration in sources.values()
        )
    except (OSError, yaml.YAMLError, AttributeError):
        return True


def shown_path(path: Path) -> str:
    """A path as a user would type it: relative to the working folder when it is inside it."""
    try:
        return str(path.resolve().relative_to(Path.cwd()))
    except ValueError:
        return str(path)


def _format_error(exc: ValidationError, file: str) -> SourcePresetConfigError:
    error = exc.errors()[0]
    loc = [str(part) for part in error["loc"]]
    reason = error["msg"].removeprefix("Value error, ")
    if error["type"] == "extra_forbidden":
        reason = "unknown key"
        if loc[:1] == ["sources"] and len(loc) == 3:
            reason += (
                "; a source takes preset, database, schema, table_prefix, event_names, event_properties "
                "(and, on the mapped preset, table, columns, page_event)"
            )
        elif loc[:1] == ["sources"] and len(loc) == 4 and loc[2] == "columns":
            reason = f"unknown column role; the roles are {', '.join(MAPPED_COLUMN_ROLES)}"
        elif len(loc) == 1:
            reason += "; the file takes sources and databases"
    elif error["type"] == "missing" and loc[:1] == ["sources"] and len(loc) == 4 and loc[2] == "columns":
        reason = f"required column role is missing: the column holding {MAPPED_COLUMN_ROLES[loc[3]]}"
    elif error["type"] == "missing":
        reason = "required key is missing"
    return SourcePresetConfigError(reason, file=file, key=".".join(loc) or None)


def _check_declaration(system: str, declaration: SourceDeclaration, file: str) -> None:
    key = f"sources.{system}"
    if system not in PRESETS:
        raise SourcePresetConfigError(
            f"unknown source system; presets exist for {', '.join(sorted(PRESETS))}", file=file, key=key
        )
    if declaration.preset not in PRESETS[system]:
        raise SourcePresetConfigError(
            f"unknown preset {declaration.preset!r}; the {system} presets are {', '.join(PRESETS[system])}",
            file=file,
            key=f"{key}.preset",
        )
    mapped_only = [
        name
        for name, value in (
            ("table", declaration.table),
            ("columns", declaration.columns),
            ("page_event", declaration.page_event),
        )
        if value is not None
    ]
    if declaration.preset != "mapped" and mapped_only:
        raise SourcePresetConfigError(
            f"{mapped_only[0]} belongs to the mapped events preset; the {declaration.preset} preset takes none",
            file=file,
            key=f"{key}.{mapped_only[0]}",
        )
    if declaration.preset == "mapped":
        _check_mapped(declaration, file, key)
    if declaration.preset == "demo":
        placed = [
            name
            for name, value in (
                ("database", declaration.database),
                ("schema", declaration.schema_name),
                ("table_prefix", declaration.table_prefix),
                ("event_names", declaration.event_names),
                ("event_properties", declaration.event_properties),
            )
            if value
        ]
        if placed:
            raise SourcePresetConfigError(
                f"the demo preset reads the raw_{system} tables Tessera loads from its files; "
                f"it takes no {placed[0]}",
                file=file,
                key=f"{key}.{placed[0]}",
            )
    elif system != "events" and (declaration.event_names or declaration.event_properties):
        option = "event_names" if declaration.event_names else "event_properties"
        raise SourcePresetConfigError(
            f"{option} maps the events source's calls; the {system} source takes no {option}",
            file=file,
            key=f"{key}.{option}",
        )
    elif declaration.schema_name is None:
        raise SourcePresetConfigError(
            f"the {declaration.preset} preset reads tables in place: say which schema holds them",
            file=file,
            key=f"{key}.schema",
        )
    elif declaration.schema_name.lower().startswith(RESERVED_SCHEMA_PREFIX):
        # Tessera loads its raw files into raw_<source> and treats every raw_ source as one it loads.
        raise SourcePresetConfigError(
            f"{declaration.schema_name!r}: schemas named {RESERVED_SCHEMA_PREFIX}* are where Tessera loads "
            "its raw files; read the loader's tables from their own schema",
            file=file,
            key=f"{key}.schema",
        )


def _check_mapped(declaration: SourceDeclaration, file: str, key: str) -> None:
    """The mapped preset reads one table: which one, and its columns' roles."""
    if declaration.table_prefix:
        raise SourcePresetConfigError(
            "the mapped preset reads the one table `table:` names; it takes no table_prefix",
            file=file,
            key=f"{key}.table_prefix",
        )
    if declaration.table is None:
        raise SourcePresetConfigError(
            "the mapped preset reads one event table: say which (table: app_events)",
            file=file,
            key=f"{key}.table",
        )
    if declaration.columns is None:
        raise SourcePresetConfigError(
            "the mapped preset needs the table's columns by role: at least event, timestamp and user_id or "
            "anonymous_id",
            file=file,
            key=f"{key}.columns",
        )
    columns = declaration.columns
    if columns.user_id is None and columns.anonymous_id is None:
        raise SourcePresetConfigError(
            "map at least one of user_id and anonymous_id: an event must belong to someone",
            file=file,
            key=f"{key}.columns",
        )
    seen: dict[str, str] = {}
    for role, column in columns.roles().items():
        if column.lower() in seen:
            raise SourcePresetConfigError(
                f"column {column!r} plays two roles ({seen[column.lower()]} and {role}); give each role its own",
                file=file,
                key=f"{key}.columns.{role}",
            )
        seen[column.lower()] = role
    if declaration.page_event is not None and not declaration.page_event.strip():
        raise SourcePresetConfigError(
            "expected the event name of a page view", file=file, key=f"{key}.page_event"
        )


def _check_databases(databases: dict[str, str], path: Path, shown: str) -> dict[str, Path]:
    """{name: resolved path} of the declared database files; each name must be free to attach under and
    each file must exist (a loader that has not run yet has no file: say so, rather than build nothing).
    Whether the warehouse attaches files at all is the warehouse's to say (check.py, and the dbt hook)."""
    build_name = Settings.from_env().build_db.stem.lower()
    resolved: dict[str, Path] = {}
    for name, location in databases.items():
        key = f"databases.{name}"
        if not _IDENTIFIER.match(name):
            raise SourcePresetConfigError(
                f"{name!r} is not a plain identifier (letters, digits and _)", file=shown, key=key
            )
        if name.lower() in RESERVED_DATABASES or name.lower() == build_name:
            raise SourcePresetConfigError(
                f"{name!r} is a name the warehouse itself uses; give the file another name",
                file=shown,
                key=key,
            )
        if name.lower() in (other.lower() for other in resolved):
            # DuckDB's catalog names ignore case: the second would silently read the first file.
            raise SourcePresetConfigError(
                f"{name!r} differs from another declared name only in case", file=shown, key=key
            )
        if not location.strip():
            raise SourcePresetConfigError("expected the path of a database file", file=shown, key=key)
        file = (path.parent / location).resolve()
        if not file.is_file():
            raise SourcePresetConfigError(
                f"no database file at {shown_path(file)}: has the loader written it yet?", file=shown, key=key
            )
        resolved[name] = file
    return resolved


def load_presets(project_dir: Path = PROJECT_DIR) -> SourcePresets:
    """The declared presets, validated; raises SourcePresetConfigError. No file means every source is demo."""
    path = presets_path(project_dir)
    declared: dict[str, SourceDeclaration] = {}
    databases: dict[str, Path] = {}
    if path.exists():
        shown = shown_path(path)
        try:
            data = yaml.safe_load(path.read_text()) or {}
        except OSError as exc:
            raise SourcePresetConfigError(f"cannot read the file: {exc.strerror}", file=shown) from None
        except yaml.YAMLError as exc:
            mark = getattr(exc, "problem_mark", None)
            where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
            raise SourcePresetConfigError(
                f"not valid YAML{where}: {getattr(exc, 'problem', exc)}", file=shown
            ) from None
        if not isinstance(data, dict):
            raise SourcePresetConfigError("expected a mapping with the key sources", file=shown)
        try:
            parsed = PresetsFile.model_validate(data)
        except ValidationError as exc:
            raise _format_error(exc, shown) from None
        for system, declaration in parsed.sources.items():
            _check_declaration(system, declaration, shown)
        declared = dict(parsed.sources)
        databases = _check_databases(parsed.databases, path, shown)
    sources = {system: declared.get(system, SourceDeclaration(preset=DEFAULT_PRESET)) for system in PRESETS}
    return SourcePresets(sources=sources, path=path if path.exists() else None, databases=databases)


def source_databases(project_dir: Path = PROJECT_DIR) -> dict[str, Path]:
    """{name: path} of the loaders' own database files the presets declare; none when the presets file
    does not validate (the build stops on it with the reason, load_presets)."""
    try:
        return load_presets(project_dir).databases
    except SourcePresetConfigError:
        return {}


def read_in_place(project_dir: Path = PROJECT_DIR) -> dict[str, SourceDeclaration]:
    """{system: declaration} for each system a preset other than demo reads in place: its rows are the
    loader's, in the loader's tables, and its raw_<system> tables are empty stand-ins. A presets file
    that does not validate reads as none here: the build stops on it with the reason (load_presets)."""
    try:
        presets = load_presets(project_dir)
    except SourcePresetConfigError:
        return {}
    return {system: d for system, d in presets.sources.items() if d.preset != DEFAULT_PRESET}


def dbt_vars(project_dir: Path = PROJECT_DIR) -> dict[str, Any]:
    """The `source_presets` var the staging models read at parse time (macros/staging/source_preset.sql)."""
    presets = load_presets(project_dir)
    out: dict[str, Any] = {}
    for system, declaration in presets.sources.items():
        entry: dict[str, Any] = {"preset": declaration.preset}
        if declaration.preset != "demo":
            entry |= {
                "database": declaration.database,
                "schema": declaration.schema_name,
                "table_prefix": declaration.table_prefix,
            }
            if system == "events":
                entry["event_names"] = dict(declaration.event_names)
                defaults = SNOWPLOW_EVENT_PROPERTIES if declaration.preset == "snowplow" else EVENT_PROPERTIES
                entry["event_properties"] = defaults | dict(declaration.event_properties)
            if declaration.preset == "mapped" and declaration.columns is not None:
                entry["table"] = declaration.table
                entry["columns"] = declaration.columns.roles()
                entry["page_event"] = declaration.page_event
        out[system] = entry
    databases = {name: str(file) for name, file in presets.databases.items()}
    return {"source_presets": out, "source_databases": databases}
