"""The interface every destination implements, and the settings all destination configs share.

A destination only knows its own API: how to turn a record into its payload (`prepare`), how to send one
batch and read back per-record results (`send_batch`, `delete`), and its documented limits. The engine
owns batching, pacing, retries, splitting rejected batches and state."""

from __future__ import annotations

import json
import math
from abc import ABC, abstractmethod
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Annotated, Any, ClassVar, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    PositiveFloat,
    PositiveInt,
    StringConstraints,
    model_validator,
)

from orchestration.sync.errors import SyncConfigError
from orchestration.sync.redact import register_secret

if TYPE_CHECKING:
    from orchestration.sync.http import HttpSession
    from orchestration.sync.ratelimit import Clock

Mode = Literal["upsert", "update", "insert", "mirror", "audience"]
Operation = Literal["upsert", "update", "insert", "add", "remove", "delete"]
DELETE_OPERATIONS: frozenset[str] = frozenset({"remove", "delete"})
ALL_MODES: frozenset[str] = frozenset({"upsert", "update", "insert", "mirror", "audience"})

# Names of environment variables, never values: a pasted token (lowercase, dashes) fails this pattern.
ENV_VAR_PATTERN = r"^[A-Z_][A-Z0-9_]*$"
EnvVar = Annotated[str, StringConstraints(pattern=ENV_VAR_PATTERN)]


@dataclass(frozen=True)
class Limits:
    """A destination's documented limits. `requests` per `per_seconds` is the rate limit (None: unlimited)."""

    max_batch_size: int
    requests: int | None
    per_seconds: float = 1.0
    max_batch_bytes: int | None = None
    max_batch_weight: int | None = None
    max_delete_batch_size: int | None = None

    def batch_size_for(self, operation: str) -> int:
        if operation in DELETE_OPERATIONS and self.max_delete_batch_size:
            return min(self.max_batch_size, self.max_delete_batch_size)
        return self.max_batch_size


@dataclass
class Record:
    """One row to send: its key, the operation, the mapped fields, and the id the destination gave it."""

    key: str
    operation: str
    fields: dict[str, Any]
    destination_id: str | None = None


@dataclass
class Item:
    """One record in the destination's own shape, ready to batch. `weight` counts what the API limits per
    request when that is not records (Google counts identifiers)."""

    key: str
    body: Any
    weight: int = 1
    size: int = 0

    def __post_init__(self) -> None:
        if not self.size:
            self.size = len(json.dumps(self.body, separators=(",", ":"), default=str))


@dataclass
class Batch:
    operation: str
    idempotency_key: str
    items: list[Item]
    sync_name: str = ""


@dataclass
class RecordResult:
    """What the destination said about one record. `destination_id` is kept in state for later deletes."""

    key: str
    ok: bool
    error: str | None = None
    destination_id: str | None = None
    # True: the API refused the record for its data (an invalid email, a failed validation rule), so the
    # same data can never succeed. None: the destination's `is_permanent` decides from the error text.
    permanent: bool | None = None


def error_codes(error: str | None) -> list[str]:
    """The API codes at the head of a per-record error (`CODE: message`, several joined by `; `)."""
    codes = []
    for part in (error or "").split("; "):
        code, colon, _ = part.partition(":")
        if colon and code.strip():
            codes.append(code.strip())
    return codes


@dataclass
class DestinationContext:
    """What a destination is built with: its sync's name and mapping, secrets from the environment, and
    the engine's paced HTTP session."""

    sync_name: str
    mode: str
    mapping: dict[str, str]
    env: Mapping[str, str]
    clock: Clock
    http: HttpSession | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    def secret(self, variable: str) -> str:
        value = self.env.get(variable)
        if not value:
            raise SyncConfigError(f"environment variable {variable} is not set", key=self.sync_name)
        register_secret(value)
        return value

    def session(self) -> HttpSession:
        if self.http is None:
            raise RuntimeError("this destination needs an HTTP session")
        return self.http


class Destination(ABC):
    """One destination API. Subclasses set `limits` and implement `prepare` and `send_batch`."""

    limits: Limits
    # Sends an idempotency key the API uses to drop a repeated request.
    supports_idempotency_key: ClassVar[bool] = False
    # Audience members are identified by the hashed values themselves, so a changed identifier means the
    # old one must be removed before the new one is added.
    replace_on_change: ClassVar[bool] = False

    # The per-record error codes the API documents as final for the data sent (validation failures).
    # A record refused with one of them is not sent again until its data changes; any other refusal
    # (rate limits, locks, server-side errors, codes we do not know) is retried on later runs.
    permanent_error_codes: ClassVar[frozenset[str]] = frozenset()

    def __init__(self) -> None:
        self.requests = 0

    def is_permanent(self, result: RecordResult) -> bool:
        """Whether a refused record can never succeed with the same data (see `permanent_error_codes`)."""
        if result.permanent is not None:
            return result.permanent
        codes = error_codes(result.error)
        return bool(codes) and all(code in self.permanent_error_codes for code in codes)

    @abstractmethod
    def prepare(self, record: Record) -> Item:
        """The record in the API's shape. Raises `InvalidRecord` when it cannot be sent at all."""

    @abstractmethod
    def send_batch(self, batch: Batch) -> list[RecordResult]:
        """Send upserts/updates/inserts/adds; return one result per record the API confirmed or refused.

        Raise `BatchRejected` when the API refuses the whole batch as invalid, `RetryableError` for
        transient failures and `DestinationFatalError` when nothing can succeed."""

    def delete(self, batch: Batch) -> list[RecordResult]:
        """Remove records (mirror deletes, audience removals)."""
        raise NotImplementedError(f"{type(self).__name__} cannot delete")

    # Privacy erasure (orchestration/privacy/): the API's own endpoint for deleting a person, which is
    # not the same as a mirror delete or an audience removal (HubSpot's GDPR delete, Klaviyo's data
    # privacy deletion job, Mailchimp's permanent delete, …). `erase_batch_size` records per call.
    supports_erase: ClassVar[bool] = False
    erase_batch_size: ClassVar[int] = 1

    def erase(self, records: list[Record], request_id: str) -> list[RecordResult]:
        """Delete these people at the destination. `records` carry the sync key, the last payload the sync
        confirmed (destination field names) and the destination's id. A person the destination no longer
        holds counts as erased. Raise like `send_batch` does for transport and whole-request failures."""
        raise NotImplementedError(f"{type(self).__name__} has no deletion API")

    @property
    def requests_made(self) -> int:
        return self.requests

    def close(self) -> None:  # noqa: B027 - most destinations hold nothing to release
        """Release connections."""


class RateLimit(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    requests: PositiveInt
    per_seconds: PositiveFloat


class DestinationSettings(BaseModel):
    """Settings every destination accepts. Subclasses add `type` and their own keys."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    type: str
    batch_size: PositiveInt | None = Field(
        default=None, description="records per request; at most the API's limit"
    )
    rate_limit: RateLimit | None = Field(default=None, description="override the documented rate limit")
    timeout_seconds: PositiveFloat = 30.0

    supported_modes: ClassVar[frozenset[str]] = frozenset()
    api_limits: ClassVar[Limits]

    @model_validator(mode="after")
    def _batch_size_within_api_limit(self) -> DestinationSettings:
        limit = type(self).api_limits.max_batch_size
        if self.batch_size is not None and self.batch_size > limit:
            raise ValueError(f"batch_size {self.batch_size} is above the API's limit of {limit}")
        return self

    def limits(self) -> Limits:
        base = type(self).api_limits
        requests, per_seconds = base.requests, base.per_seconds
        if self.rate_limit is not None:
            requests, per_seconds = self.rate_limit.requests, self.rate_limit.per_seconds
        size = self.batch_size or base.max_batch_size
        delete_size = base.max_delete_batch_size
        return Limits(
            max_batch_size=size,
            requests=requests,
            per_seconds=per_seconds,
            max_batch_bytes=base.max_batch_bytes,
            max_batch_weight=base.max_batch_weight,
            max_delete_batch_size=min(size, delete_size) if delete_size else None,
        )

    def validate_mapping(self, mapping: dict[str, str], mode: str) -> None:
        """Raise ValueError when the mapping lacks what the API needs. The default accepts anything."""

    def uses_http(self) -> bool:
        return True

    @abstractmethod
    def build(self, ctx: DestinationContext) -> Destination:
        """The destination client, with secrets read from the environment now (not at load)."""


def require_fields(mapping: Mapping[str, str], *names: str) -> None:
    missing = [name for name in names if name not in mapping]
    if missing:
        raise ValueError(f"mapping must include destination field(s) {', '.join(missing)}")


def chunks_needed(count: int, size: int) -> int:
    return math.ceil(count / size) if count else 0
