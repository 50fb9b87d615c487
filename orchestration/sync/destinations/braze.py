"""Braze user attributes via `POST /users/track` (75 attribute objects per request) and `/users/delete`."""

from __future__ import annotations

from typing import Any, ClassVar, Literal

from orchestration.sync.destinations.base import (
    Batch,
    Destination,
    DestinationContext,
    DestinationSettings,
    EnvVar,
    Item,
    Limits,
    Record,
    RecordResult,
)
from orchestration.sync.errors import BatchRejected, DestinationFatalError
from orchestration.sync.http import HttpSession, json_or_none


class BrazeSettings(DestinationSettings):
    """The REST endpoint is per instance (e.g. `https://rest.iad-01.braze.com`); the sync key is the
    `external_id`."""

    type: Literal["braze"]
    api_key_env: EnvVar
    base_url: str

    supported_modes: ClassVar[frozenset[str]] = frozenset({"upsert", "update", "mirror"})
    # /users/track: 75 attribute objects per request, 3,000 requests per 3 seconds.
    # /users/delete: 50 external ids per request.
    api_limits: ClassVar[Limits] = Limits(
        max_batch_size=75, requests=3000, per_seconds=3.0, max_delete_batch_size=50
    )

    def validate_mapping(self, mapping: dict[str, str], mode: str) -> None:
        if "external_id" in mapping:
            raise ValueError("external_id comes from the sync's primary key; do not map it")

    def build(self, ctx: DestinationContext) -> Destination:
        return Braze(self, ctx.session(), ctx.secret(self.api_key_env), self.limits())


class Braze(Destination):
    def is_permanent(self, result: RecordResult) -> bool:
        """`/users/track` non-fatal errors name one attributes object whose data Braze would not process
        (a missing id, an invalid value): final for that data. The one exception is "user does not
        exist" under `_update_existing_only`, which can succeed once the user is created."""
        if result.permanent is not None:
            return result.permanent
        return "does not exist" not in (result.error or "")

    def __init__(self, settings: BrazeSettings, http: HttpSession, api_key: str, limits: Limits) -> None:
        super().__init__()
        self.http = http
        self.limits = limits
        self._base = settings.base_url.rstrip("/")
        self._headers = {"Authorization": f"Bearer {api_key}", "Content-Type": "application/json"}

    def prepare(self, record: Record) -> Item:
        if record.operation == "delete":
            return Item(record.key, record.key)
        body: dict[str, Any] = {"external_id": record.key, **record.fields}
        # Update mode must never create a profile: Braze's own flag makes /users/track update-only.
        body["_update_existing_only"] = record.operation == "update"
        return Item(record.key, body)

    def send_batch(self, batch: Batch) -> list[RecordResult]:
        response = self.http.request(
            "POST",
            f"{self._base}/users/track",
            json={"attributes": [item.body for item in batch.items]},
            headers=self._headers,
        )
        body = json_or_none(response) or {}
        if response.status_code not in (200, 201):
            self._raise(response.status_code, body)
        # Non-fatal errors name the offending object by its index in the `attributes` array.
        failed: dict[int, str] = {}
        for error in body.get("errors") or []:
            if isinstance(error, dict) and error.get("input_array") == "attributes" and "index" in error:
                failed[int(error["index"])] = str(error.get("type", "rejected"))
        return [
            RecordResult(item.key, False, failed[index]) if index in failed else RecordResult(item.key, True)
            for index, item in enumerate(batch.items)
        ]

    def delete(self, batch: Batch) -> list[RecordResult]:
        response = self.http.request(
            "POST",
            f"{self._base}/users/delete",
            json={"external_ids": [item.body for item in batch.items]},
            headers=self._headers,
        )
        body = json_or_none(response) or {}
        if response.status_code not in (200, 201, 202):
            self._raise(response.status_code, body)
        return [RecordResult(item.key, True) for item in batch.items]

    supports_erase = True
    erase_batch_size = 50

    def erase(self, records: list[Record], request_id: str) -> list[RecordResult]:
        """`POST /users/delete` by external_id (the sync key): Braze deletes the whole user profile."""
        items = [Item(record.key, record.key) for record in records]
        return self.delete(Batch("delete", f"erase-{request_id}", items))

    @staticmethod
    def _raise(status: int, body: dict[str, Any]) -> None:
        message = f"HTTP {status}: {body.get('message', '')} {body.get('errors', '')}".strip()
        if status in (400, 413, 422):
            raise BatchRejected(message)
        raise DestinationFatalError(message)
