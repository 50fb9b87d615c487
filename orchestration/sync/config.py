"""Sync declarations: the YAML format, its validation, and `load_syncs`."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import time, timedelta
from pathlib import Path
from typing import Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import yaml  # type: ignore[import-untyped]
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    PositiveFloat,
    PositiveInt,
    PrivateAttr,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)

from orchestration.journeys.config import declared_journey_names
from orchestration.sync.destinations import DESTINATION_TYPES, DestinationConfig
from orchestration.sync.destinations.base import DestinationSettings, Mode
from orchestration.sync.errors import SyncConfigError

IDENTIFIER = r"^[A-Za-z_][A-Za-z0-9_]*$"
QUALIFIED = r"^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)?$"
_CRON_FIELD = re.compile(
    r"^(\*|\?|[0-9A-Za-z]+(-[0-9A-Za-z]+)?)(/[0-9]+)?(,(\*|[0-9A-Za-z]+(-[0-9A-Za-z]+)?)(/[0-9]+)?)*$"
)
_CRON_MACROS = frozenset({"@yearly", "@annually", "@monthly", "@weekly", "@daily", "@midnight", "@hourly"})


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


AUDIENCE_MODEL = "sync_audience__members"
PRIORITY_LIST_MODEL = "sync_priority_list__members"
JOURNEY_MODEL = "sync_journey__members"


def _journey_source(data: dict[str, Any]) -> dict[str, Any]:
    """`source: {journey: J}`: the members of journeys/J.yml ready for its sync step, read from the
    activation model sync_journey__members (docs/journeys.md)."""
    if sum(data.get(k) is not None for k in ("audience", "priority_list", "journey")) > 1:
        raise ValueError("give one of audience, priority_list or journey")
    return {"model": JOURNEY_MODEL, "primary_key": "customer_id", **data}


def _declared_journey(value: str | None, info: ValidationInfo) -> str | None:
    known = (info.context or {}).get("journeys")
    if value is not None and known is not None and value not in known:
        declared = ", ".join(sorted(known)) or "none"
        raise ValueError(f"unknown journey {value!r}: no journeys/{value}.yml (declared: {declared})")
    return value


class SourceConfig(_Strict):
    """What a sync reads: a warehouse model (`table` or `schema.table`) and its primary key column, or
    the members of one audience (`audience:`) or one priority list (`priority_list:`) declared in
    audiences/. An audience source reads the activation model sync_audience__members (a priority list,
    sync_priority_list__members) filtered to that audience, keyed by customer_id. Rows flagged
    `is_holdout` or `is_global_holdout` are never sent, whatever the source (orchestration/sync/diff.py)."""

    model: str = Field(pattern=QUALIFIED)
    primary_key: str = Field(pattern=IDENTIFIER)
    audience: str | None = Field(default=None, pattern=IDENTIFIER)
    priority_list: str | None = Field(default=None, pattern=IDENTIFIER)
    journey: str | None = Field(default=None, pattern=IDENTIFIER)

    @model_validator(mode="before")
    @classmethod
    def _audience_defaults(cls, data: Any) -> Any:
        if not isinstance(data, dict):
            return data
        if data.get("journey") is not None:
            return _journey_source(data)
        if data.get("audience") is not None and data.get("priority_list") is not None:
            raise ValueError("give audience or priority_list, not both")
        if data.get("audience") is not None:
            return {"model": AUDIENCE_MODEL, "primary_key": "customer_id", **data}
        if data.get("priority_list") is not None:
            return {"model": PRIORITY_LIST_MODEL, "primary_key": "customer_id", **data}
        return data

    @field_validator("audience")
    @classmethod
    def _declared_audience(cls, value: str | None, info: ValidationInfo) -> str | None:
        known = (info.context or {}).get("audiences")
        if value is not None and known is not None and value not in known:
            raise ValueError(
                f"unknown audience {value!r}: no audiences/{value}.yml (declared: {', '.join(sorted(known))})"
            )
        return value

    @field_validator("priority_list")
    @classmethod
    def _declared_priority_list(cls, value: str | None, info: ValidationInfo) -> str | None:
        known = (info.context or {}).get("priority_lists")
        if value is not None and known is not None and value not in known:
            declared = ", ".join(sorted(known)) or "none"
            raise ValueError(
                f"unknown priority list {value!r}: not in priority_lists of audiences/_audiences.yml "
                f"(declared: {declared})"
            )
        return value

    @field_validator("journey")
    @classmethod
    def _journey_declared(cls, value: str | None, info: ValidationInfo) -> str | None:
        return _declared_journey(value, info)

    @property
    def row_filter(self) -> tuple[str, str] | None:
        """The (column, value) an audience, priority-list or journey source keeps, else None."""
        if self.journey is not None:
            return ("journey_name", self.journey)
        if self.audience is not None:
            return ("audience_name", self.audience)
        if self.priority_list is not None:
            return ("priority_list_name", self.priority_list)
        return None

    @property
    def describe(self) -> str:
        if self.journey is not None:
            return f"journey {self.journey} ({self.model})"
        if self.audience is not None:
            return f"audience {self.audience} ({self.model})"
        if self.priority_list is not None:
            return f"priority list {self.priority_list} ({self.model})"
        return self.model

    @property
    def schema_and_table(self) -> tuple[str, str]:
        schema, _, table = self.model.rpartition(".")
        return schema or "main", table


class SafetyLimits(_Strict):
    """Guards and retry budgets for one sync."""

    # A run that would remove more than this share of the records at the destination stops before
    # sending anything, unless forced.
    max_remove_share: float = Field(default=0.2, ge=0.0, le=1.0)
    # Removals above this share of the records at the destination are held for a person (adds and
    # changes still go) when, since the sync last ran, a raw schema changed, a freshness check failed
    # or more than `hold_id_change_share` of customers changed customer id (see orchestration/sync/holds.py).
    hold_remove_share: float = Field(default=0.05, ge=0.0, le=1.0)
    hold_id_change_share: float = Field(default=0.05, ge=0.0, le=1.0)
    # Attempts per batch within one run (429s, 5xx and timeouts are retried with backoff).
    max_attempts: PositiveInt = 6
    # Runs in a row a refused record is retried; after that it waits until its data changes.
    max_record_attempts: PositiveInt = 10
    # Runs in a row an unconfirmed batch is resent before its records go back to the normal diff.
    max_recovery_attempts: PositiveInt = 5
    backoff_base_seconds: PositiveFloat = 0.5
    backoff_max_seconds: PositiveFloat = 30.0


def _valid_cron(value: str) -> bool:
    text = value.strip()
    if text.lower() in _CRON_MACROS:
        return True
    parts = text.split()
    return len(parts) == 5 and all(_CRON_FIELD.match(part) for part in parts)


# Send timing and frequency caps (docs/syncs.md#send-timing, #frequency-caps).

_CLOCK = re.compile(r"^([01][0-9]|2[0-3]):([0-5][0-9])$")
_WINDOW = re.compile(r"^([1-9][0-9]*)([mhdw])$")
_WINDOW_UNITS = {"m": "minutes", "h": "hours", "d": "days", "w": "weeks"}
# An `on: entry` sync without a `schedule:` runs this often, so members deferred by quiet hours or a
# frequency cap go out soon after their window opens (it also runs after every published build).
ENTRY_SCHEDULE = "*/15 * * * *"
# The channel a destination's sends reach when the type says so; others must declare `channel:` when
# the file has frequency caps.
CHANNEL_BY_DESTINATION = {
    "klaviyo": "email",
    "mailchimp": "email",
    "meta_audience": "ads",
    "google_customer_match": "ads",
}


def valid_timezone(name: str) -> bool:
    """Whether `name` is an IANA time zone this machine knows (zoneinfo)."""
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError, OSError):  # OSError: a folder, e.g. 'Europe'
        return False
    return True


def parse_clock(value: str) -> time:
    match = _CLOCK.match(value)
    if match is None:
        raise ValueError("must be a 24-hour time 'HH:MM', e.g. '21:00'")
    return time(int(match.group(1)), int(match.group(2)))


class QuietHours(_Strict):
    """A send window per recipient: nothing is sent while the recipient's local time is in
    [start, end) (the window may run past midnight). The recipient's IANA zone is read from
    `timezone_column` of the source when given; a null or unknown zone uses `default_timezone`."""

    start: str
    end: str
    timezone_column: str | None = Field(default=None, pattern=IDENTIFIER)
    default_timezone: str = "UTC"

    @field_validator("start", "end")
    @classmethod
    def _clock(cls, value: str) -> str:
        parse_clock(value)
        return value

    @field_validator("default_timezone")
    @classmethod
    def _zone(cls, value: str) -> str:
        if not valid_timezone(value):
            raise ValueError("is not an IANA time zone (e.g. 'Europe/Warsaw', 'America/New_York', 'UTC')")
        return value

    @model_validator(mode="after")
    def _not_empty(self) -> QuietHours:
        if self.start == self.end:
            raise ValueError("start and end are the same time, so the window is empty")
        return self

    def contains(self, local: time) -> bool:
        """Whether a local wall-clock time falls inside the quiet hours."""
        start, end = parse_clock(self.start), parse_clock(self.end)
        local = local.replace(second=0, microsecond=0)
        if start < end:
            return start <= local < end
        return local >= start or local < end  # past midnight, e.g. 21:00-08:00


class Timing(_Strict):
    """When a sync sends. `on: schedule` (the default): after each published build and on the sync's
    `schedule:`. `on: entry`: also after each build, and on a short interval (its `schedule:`, default
    every 15 minutes), so new members and deferred ones go out in the next micro-batch.
    `quiet_hours` defers adds and changes (never removals) while the recipient's local time is in it."""

    on: Literal["entry", "schedule"] = "schedule"
    quiet_hours: QuietHours | None = None

    @model_validator(mode="before")
    @classmethod
    def _on_key(cls, data: Any) -> Any:
        return _yaml_on(data)


class FrequencyCap(_Strict):
    """At most `max` adds on `channel` per customer (sync key) within the rolling window `per`
    ('30m', '24h', '7d', '2w'), counted across every sync of that channel."""

    channel: str = Field(pattern=IDENTIFIER)
    max: PositiveInt
    per: str

    @field_validator("per")
    @classmethod
    def _window(cls, value: str) -> str:
        if not _WINDOW.match(value):
            raise ValueError("must be a window like '30m', '24h', '7d' or '2w'")
        return value

    @property
    def window(self) -> timedelta:
        match = _WINDOW.match(self.per)
        assert match is not None
        return timedelta(**{_WINDOW_UNITS[match.group(2)]: int(match.group(1))})

    def describe(self) -> str:
        return f"{self.channel} {self.max} per {self.per}"


def _yaml_on(data: Any) -> Any:
    """YAML 1.1 (PyYAML) reads the key `on:` as the boolean true; in `timing:` it is the key "on"."""
    if isinstance(data, dict) and True in data and "on" not in data:
        return {("on" if key is True else key): value for key, value in data.items()}
    return data


def _entry_schedule(data: Any) -> Any:
    """An `on: entry` sync may leave `schedule:` out: it runs every 15 minutes (ENTRY_SCHEDULE)."""
    if not isinstance(data, dict) or "schedule" in data:
        return data
    timing = _yaml_on(data.get("timing"))
    if isinstance(timing, dict) and timing.get("on") == "entry":
        return {**data, "schedule": ENTRY_SCHEDULE}
    return data


def check_channels(syncs: list[SyncConfig], caps: list[FrequencyCap], *, file: str) -> None:
    """With frequency caps in the file, every sync says which channel it sends on: its `channel:`, one
    derived from the destination type, or `channel: null` on purpose for a sync that sends no messages.
    Each sync then knows the caps of its channel."""
    for index, sync in enumerate(syncs):
        if caps and sync.channel_name is None and "channel" not in sync.model_fields_set:
            raise SyncConfigError(
                f"the file has frequency_caps, so this sync must declare its channel (email, sms, push, "
                f"ads, …; `channel: null` for a sync that sends no messages): {sync.destination.type} "
                "does not imply one",
                file=file,
                key=f"syncs[{index}].channel",
            )
        sync._caps = tuple(cap for cap in caps if cap.channel == sync.channel_name)
        # Caps count a customer's sends across syncs by the sync key: every sync on a capped channel
        # must be keyed by the customer, or its sends would count apart from the others'.
        if sync._caps and sync.source.primary_key != "customer_id":
            raise SyncConfigError(
                f"channel {sync.channel_name} has a frequency cap, which counts sends per customer_id, so "
                f"this sync must be keyed by customer_id (its source's primary_key is "
                f"{sync.source.primary_key}), or send on another channel",
                file=file,
                key=f"syncs[{index}].source.primary_key",
            )


class SyncConfig(_Strict):
    """One sync: what to read, where to send it, how, when, and under which consent purpose."""

    name: str = Field(pattern=r"^[a-z][a-z0-9_]{0,62}$")
    description: str | None = None
    source: SourceConfig
    destination: DestinationConfig
    mode: Mode
    mapping: dict[str, str] = Field(min_length=1, description="destination field -> source column")
    schedule: str
    # Required key: write `consent_purpose: null` to declare on purpose that a sync needs no consent.
    consent_purpose: str | None = Field(pattern=IDENTIFIER)
    limits: SafetyLimits = Field(default_factory=SafetyLimits)
    timing: Timing = Field(default_factory=Timing)
    # email, sms, push, ads, …: what frequency caps count; default from the destination type.
    channel: str | None = Field(default=None, pattern=IDENTIFIER)
    _caps: tuple[FrequencyCap, ...] = PrivateAttr(default=())

    @model_validator(mode="before")
    @classmethod
    def _timing_defaults(cls, data: Any) -> Any:
        return _entry_schedule(data)

    @property
    def channel_name(self) -> str | None:
        """The channel this sync's sends count on: `channel:`, else the destination type's, else None
        (`channel: null` says on purpose that it sends no messages)."""
        if self.channel is not None or "channel" in self.model_fields_set:
            return self.channel
        return CHANNEL_BY_DESTINATION.get(self.destination.type)

    @property
    def frequency_caps(self) -> tuple[FrequencyCap, ...]:
        """The file's frequency caps on this sync's channel (set by `parse_syncs`)."""
        return self._caps

    @field_validator("mode")
    @classmethod
    def _mode_supported(cls, mode: str, info: ValidationInfo) -> str:
        destination = info.data.get("destination")
        if isinstance(destination, DestinationSettings) and mode not in destination.supported_modes:
            supported = ", ".join(sorted(destination.supported_modes))
            raise ValueError(f"{destination.type} does not support mode {mode!r} (supported: {supported})")
        return mode

    @field_validator("mapping")
    @classmethod
    def _mapping_fits_destination(cls, mapping: dict[str, str], info: ValidationInfo) -> dict[str, str]:
        bad = [column for column in mapping.values() if not re.match(IDENTIFIER, column)]
        if bad:
            raise ValueError(f"source column(s) {', '.join(bad)} are not plain column names")
        empty = [name for name in mapping if not name.strip()]
        if empty:
            raise ValueError("destination field names must not be empty")
        destination = info.data.get("destination")
        mode = info.data.get("mode")
        if isinstance(destination, DestinationSettings) and mode:
            destination.validate_mapping(mapping, mode)
        return mapping

    @field_validator("schedule")
    @classmethod
    def _cron(cls, value: str) -> str:
        if not _valid_cron(value):
            raise ValueError("schedule must be a cron string with five fields, e.g. '0 * * * *'")
        return value.strip()

    @property
    def consent_column(self) -> str | None:
        return f"has_consent_{self.consent_purpose}" if self.consent_purpose else None


class _SyncFile(_Strict):
    syncs: list[SyncConfig]
    frequency_caps: list[FrequencyCap] = Field(default_factory=list)


def _key(loc: tuple[int | str, ...]) -> str:
    """A pydantic location as a path a person can find in the file: `syncs[0].destination.token_env`."""
    parts: list[str] = []
    previous: int | str | None = None
    for element in loc:
        if isinstance(element, int):
            parts.append(f"[{element}]")
        elif previous == "destination" and element in DESTINATION_TYPES:
            pass  # the union's tag, which is not a key in the file
        else:
            parts.append(("." if parts else "") + str(element))
        previous = element
    return "".join(parts)


def _reason(error: Any) -> str:
    message = str(error["msg"])
    if error["type"] == "extra_forbidden":
        return "unknown key (secrets belong in environment variables named by *_env keys)"
    return message.removeprefix("Value error, ")


@dataclass(frozen=True)
class DeclaredAudiences:
    """The audiences and priority lists an audience source may name (audiences/ of the project)."""

    audiences: frozenset[str]
    priority_lists: frozenset[str]


def declared_audiences() -> DeclaredAudiences:
    """Read the project's audiences folder ($TESSERA_AUDIENCES_DIR, else audiences/)."""
    from orchestration.audiences.definitions import audiences_dir
    from orchestration.audiences.rules import AudienceConfigError, load_project

    try:
        project = load_project(audiences_dir())
    except AudienceConfigError as exc:
        raise SyncConfigError(f"a sync reads an audience, but the audiences do not load: {exc}") from None
    return DeclaredAudiences(frozenset(a.name for a in project.audiences), frozenset(project.priority_lists))


def _names_audiences(data: Any) -> bool:
    syncs = data.get("syncs") if isinstance(data, dict) else None
    return isinstance(syncs, list) and any(
        isinstance(sync, dict)
        and isinstance(sync.get("source"), dict)
        and ("audience" in sync["source"] or "priority_list" in sync["source"])
        for sync in syncs
    )


def _names_journeys(data: Any) -> bool:
    syncs = data.get("syncs") if isinstance(data, dict) else None
    return isinstance(syncs, list) and any(
        isinstance(sync, dict) and isinstance(sync.get("source"), dict) and "journey" in sync["source"]
        for sync in syncs
    )


def parse_syncs(
    data: Any, *, file: str = "<syncs>", audiences: DeclaredAudiences | None = None
) -> list[SyncConfig]:
    """Validate an already-parsed sync document (a mapping with a `syncs:` list). An audience or
    priority-list source must name one declared in `audiences` (default: the project's audiences/,
    read only when some sync names one)."""
    if not isinstance(data, dict) or "syncs" not in data:
        raise SyncConfigError(
            "the file must be a mapping with a top-level `syncs:` list", file=file, key="syncs"
        )
    if audiences is None and _names_audiences(data):
        audiences = declared_audiences()
    context = (
        {"audiences": audiences.audiences, "priority_lists": audiences.priority_lists} if audiences else None
    )
    if _names_journeys(data):
        context = {**(context or {}), "journeys": declared_journey_names()}
    try:
        parsed = _SyncFile.model_validate(data, context=context)
    except ValidationError as exc:
        # A misspelt key also makes the real key "missing"; the misspelling is the error to show first.
        errors = sorted(exc.errors(include_input=False), key=lambda e: e["type"] != "extra_forbidden")
        first = errors[0]
        reasons = "; ".join(f"{_key(e['loc'])}: {_reason(e)}" for e in errors[1:5])
        more = f" (also: {reasons})" if reasons else ""
        raise SyncConfigError(_reason(first) + more, file=file, key=_key(first["loc"])) from None
    seen: dict[str, int] = {}
    for index, sync in enumerate(parsed.syncs):
        if sync.name in seen:
            raise SyncConfigError(
                f"duplicate sync name {sync.name!r} (also syncs[{seen[sync.name]}])",
                file=file,
                key=f"syncs[{index}].name",
            )
        seen[sync.name] = index
    check_channels(parsed.syncs, parsed.frequency_caps, file=file)
    return parsed.syncs


def load_syncs(path: str | Path, *, audiences: DeclaredAudiences | None = None) -> list[SyncConfig]:
    """Read and validate a sync file. A wrong key or type raises `SyncConfigError` with file, key, reason."""
    path = Path(path)
    try:
        text = path.read_text()
    except OSError as exc:
        raise SyncConfigError(f"cannot read the file: {exc.strerror}", file=str(path)) from None
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        raise SyncConfigError(
            f"not valid YAML{where}: {getattr(exc, 'problem', exc)}", file=str(path)
        ) from None
    return parse_syncs(data, file=str(path), audiences=audiences)
