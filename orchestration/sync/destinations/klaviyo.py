"""Klaviyo profiles through the Bulk Import Profiles job API (JSON:API, up to 10,000 profiles per job)."""

from __future__ import annotations

import logging
import re
from typing import Any, ClassVar, Literal

from pydantic import PositiveFloat, PositiveInt

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
from orchestration.sync.errors import BatchRejected, DestinationFatalError, InvalidRecord, RetryableError
from orchestration.sync.http import HttpSession, json_or_none
from orchestration.sync.ratelimit import Clock

log = logging.getLogger(__name__)

IDENTIFIERS = ("email", "phone_number", "external_id")
PROFILE_ATTRIBUTES = frozenset(
    {*IDENTIFIERS, "first_name", "last_name", "organization", "title", "image", "locale"}
)
LOCATION_PREFIX = "location."
_POINTER = re.compile(r"^/data/attributes/profiles/data/(\d+)")


class KlaviyoSettings(DestinationSettings):
    """`POST /api/profile-bulk-import-jobs` with `Authorization: Klaviyo-API-Key …` and a `revision` header.

    Mapped fields named like Klaviyo profile attributes (`email`, `first_name`, `location.city`, …) go to
    the attributes; every other field becomes a custom property. With `list_id`, profiles are also added
    to that list."""

    type: Literal["klaviyo"]
    api_key_env: EnvVar
    base_url: str = "https://a.klaviyo.com"
    revision: str = "2026-01-15"
    list_id: str | None = None
    poll_seconds: PositiveFloat = 2.0
    max_polls: PositiveInt = 150

    supported_modes: ClassVar[frozenset[str]] = frozenset({"upsert"})
    # 10,000 profiles and 5 MB per job; burst 10/s, steady 150/m.
    api_limits: ClassVar[Limits] = Limits(
        max_batch_size=10_000, requests=150, per_seconds=60.0, max_batch_bytes=4_900_000
    )

    def validate_mapping(self, mapping: dict[str, str], mode: str) -> None:
        if not any(name in mapping for name in IDENTIFIERS):
            raise ValueError(f"mapping must include one of {', '.join(IDENTIFIERS)}")

    def build(self, ctx: DestinationContext) -> Destination:
        return Klaviyo(self, ctx.session(), ctx.secret(self.api_key_env), self.limits(), ctx.clock)


class Klaviyo(Destination):
    def is_permanent(self, result: RecordResult) -> bool:
        """A bulk import job's import errors (`…/import-errors`, JSON:API errors such as "Invalid input")
        are validation failures of one profile's data; whole-job problems arrive as HTTP statuses."""
        if result.permanent is not None:
            return result.permanent
        return bool(result.error)

    def __init__(
        self, settings: KlaviyoSettings, http: HttpSession, api_key: str, limits: Limits, clock: Clock
    ) -> None:
        super().__init__()
        self.settings = settings
        self.http = http
        self.limits = limits
        self.clock = clock
        self._base = settings.base_url.rstrip("/")
        self._headers = {
            "Authorization": f"Klaviyo-API-Key {api_key}",
            "revision": settings.revision,
            "Content-Type": "application/vnd.api+json",
            "Accept": "application/vnd.api+json",
        }

    def prepare(self, record: Record) -> Item:
        attributes: dict[str, Any] = {}
        location: dict[str, Any] = {}
        properties: dict[str, Any] = {}
        for name, value in record.fields.items():
            # Bulk import cannot clear a field with null; leaving it out keeps the stored value.
            if value is None:
                continue
            if name in PROFILE_ATTRIBUTES:
                attributes[name] = str(value).strip() if name in IDENTIFIERS else value
            elif name.startswith(LOCATION_PREFIX):
                location[name[len(LOCATION_PREFIX) :]] = value
            else:
                properties[name] = value
        if not any(attributes.get(name) for name in IDENTIFIERS):
            raise InvalidRecord("no email, phone_number or external_id to identify the profile")
        if location:
            attributes["location"] = location
        if properties:
            attributes["properties"] = properties
        return Item(record.key, {"type": "profile", "attributes": attributes})

    def send_batch(self, batch: Batch) -> list[RecordResult]:
        data: dict[str, Any] = {
            "type": "profile-bulk-import-job",
            "attributes": {"profiles": {"data": [item.body for item in batch.items]}},
        }
        if self.settings.list_id:
            data["relationships"] = {"lists": {"data": [{"type": "list", "id": self.settings.list_id}]}}
        response = self.http.request(
            "POST", f"{self._base}/api/profile-bulk-import-jobs", json={"data": data}, headers=self._headers
        )
        body = json_or_none(response) or {}
        if response.status_code not in (200, 201, 202):
            message = (
                "; ".join(f"{e.get('title', '')}: {e.get('detail', '')}" for e in body.get("errors") or [])
                or f"HTTP {response.status_code}"
            )
            if response.status_code in (400, 409, 413, 422):
                raise BatchRejected(message)
            raise DestinationFatalError(message)
        job_id = body["data"]["id"]
        job = self._wait(job_id)
        failed = self._import_errors(job_id, batch) if (job.get("failed_count") or 0) > 0 else {}
        return [
            RecordResult(item.key, False, failed[item.key])
            if item.key in failed
            else RecordResult(item.key, True)
            for item in batch.items
        ]

    supports_erase = True

    def erase(self, records: list[Record], request_id: str) -> list[RecordResult]:
        """`POST /api/data-privacy-deletion-jobs`: Klaviyo deletes the profile and all its data, found by
        email, phone number or external id (one profile per job; 202 means accepted)."""
        results = []
        for record in records:
            identifier = next(
                ((name, str(record.fields[name]).strip()) for name in IDENTIFIERS if record.fields.get(name)),
                None,
            )
            if identifier is None:
                results.append(
                    RecordResult(record.key, False, "no email, phone_number or external_id to delete by")
                )
                continue
            profile = {"data": {"type": "profile", "attributes": {identifier[0]: identifier[1]}}}
            body = {"data": {"type": "data-privacy-deletion-job", "attributes": {"profile": profile}}}
            response = self.http.request(
                "POST", f"{self._base}/api/data-privacy-deletion-jobs", json=body, headers=self._headers
            )
            if response.status_code in (200, 202, 204):
                results.append(RecordResult(record.key, True))
            else:
                reply = json_or_none(response) or {}
                detail = "; ".join(str(e.get("detail", "")) for e in reply.get("errors") or [])
                results.append(RecordResult(record.key, False, f"HTTP {response.status_code}: {detail}"))
        return results

    def _wait(self, job_id: str) -> dict[str, Any]:
        """Poll the job until Klaviyo has processed it: only then are per-profile errors known."""
        for _ in range(self.settings.max_polls):
            response = self.http.request(
                "GET", f"{self._base}/api/profile-bulk-import-jobs/{job_id}", headers=self._headers
            )
            attributes = (json_or_none(response) or {}).get("data", {}).get("attributes", {})
            status = attributes.get("status")
            if status == "complete":
                return attributes
            if status == "cancelled":
                raise RetryableError(f"bulk import job {job_id} was cancelled")
            self.clock.sleep(self.settings.poll_seconds)
        raise RetryableError(f"bulk import job {job_id} did not finish in time")

    def _import_errors(self, job_id: str, batch: Batch) -> dict[str, str]:
        by_identifier: dict[str, str] = {}
        for item in batch.items:
            for name in IDENTIFIERS:
                value = item.body["attributes"].get(name)
                if value:
                    by_identifier.setdefault(str(value).lower(), item.key)
        failed: dict[str, str] = {}
        unattributed = 0
        url: str | None = f"{self._base}/api/profile-bulk-import-jobs/{job_id}/import-errors"
        for _ in range(1000):
            if not url:
                break
            response = self.http.request("GET", url, headers=self._headers)
            body = json_or_none(response) or {}
            for error in body.get("data") or []:
                attributes = error.get("attributes") or {}
                message = f"{attributes.get('title', 'error')}: {attributes.get('detail', '')}"
                key = self._attribute(attributes, batch, by_identifier)
                if key is None:
                    unattributed += 1
                else:
                    failed[key] = message
            url = (body.get("links") or {}).get("next")
        if unattributed:
            log.warning(
                "Klaviyo job %s: %d import errors could not be matched to records", job_id, unattributed
            )
        return failed

    @staticmethod
    def _attribute(attributes: dict[str, Any], batch: Batch, by_identifier: dict[str, str]) -> str | None:
        pointer = str((attributes.get("source") or {}).get("pointer") or "")
        match = _POINTER.match(pointer)
        if match and int(match.group(1)) < len(batch.items):
            return batch.items[int(match.group(1))].key
        original = attributes.get("original_payload") or {}
        for name in IDENTIFIERS:
            value = original.get(name) or (original.get("attributes") or {}).get(name)
            if value and str(value).lower() in by_identifier:
                return by_identifier[str(value).lower()]
        return None
