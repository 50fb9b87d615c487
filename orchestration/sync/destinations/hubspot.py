"""HubSpot CRM objects through the v3 batch endpoints (upsert by unique property, update, create, archive)."""

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
    require_fields,
)
from orchestration.sync.errors import BatchRejected, DestinationFatalError, InvalidRecord
from orchestration.sync.http import HttpSession, json_or_none

_ENDPOINT = {"upsert": "upsert", "update": "update", "insert": "create"}


class HubSpotSettings(DestinationSettings):
    """`POST /crm/v3/objects/{object}/batch/upsert` with a private-app token; 100 inputs per call."""

    type: Literal["hubspot"]
    token_env: EnvVar
    base_url: str = "https://api.hubapi.com"
    object_type: str = "contacts"
    id_property: str = "email"

    supported_modes: ClassVar[frozenset[str]] = frozenset({"upsert", "update", "insert", "mirror"})
    # 100 inputs per batch call; private apps get 100 requests per 10 seconds on the base tiers.
    api_limits: ClassVar[Limits] = Limits(max_batch_size=100, requests=100, per_seconds=10.0)

    def validate_mapping(self, mapping: dict[str, str], mode: str) -> None:
        if mode != "insert":
            require_fields(mapping, self.id_property)

    def build(self, ctx: DestinationContext) -> Destination:
        return HubSpot(self, ctx.session(), ctx.secret(self.token_env), self.limits())


def _property_value(value: Any) -> str:
    # HubSpot stores every property as a string; an empty string clears it.
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


class HubSpot(Destination):
    # Per-record `category` values of a 207 multi-status answer that describe the data itself
    # (HubSpot's error categories: VALIDATION_ERROR with INVALID_EMAIL, PROPERTY_DOESNT_EXIST, … as
    # sub-categories). OBJECT_NOT_FOUND (update mode) may succeed once the record exists, RATE_LIMITS
    # and the rest later: those are retried.
    permanent_error_codes: ClassVar[frozenset[str]] = frozenset(
        {
            "VALIDATION_ERROR",
            "INVALID_EMAIL",
            "PROPERTY_DOESNT_EXIST",
            "INVALID_OPTION",
            "INVALID_INTEGER",
            "INVALID_DATE",
            "INVALID_DATETIME",
            "INVALID_PHONE_NUMBER",
        }
    )

    def __init__(self, settings: HubSpotSettings, http: HttpSession, token: str, limits: Limits) -> None:
        super().__init__()
        self.settings = settings
        self.http = http
        self.limits = limits
        self._headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
        self._url = f"{settings.base_url.rstrip('/')}/crm/v3/objects/{settings.object_type}/batch"

    def prepare(self, record: Record) -> Item:
        if record.operation == "delete":
            if not record.destination_id:
                raise InvalidRecord("no HubSpot record id in sync state, so it cannot be archived")
            return Item(record.key, {"id": record.destination_id})
        properties = {name: _property_value(value) for name, value in record.fields.items()}
        if record.operation == "insert":
            return Item(record.key, {"properties": properties})
        id_value = record.fields.get(self.settings.id_property)
        if id_value is None or str(id_value).strip() == "":
            raise InvalidRecord(f"{self.settings.id_property} (the idProperty) is empty")
        id_text = str(id_value).strip()
        properties[self.settings.id_property] = id_text
        body = {"idProperty": self.settings.id_property, "id": id_text, "properties": properties}
        return Item(record.key, body)

    def send_batch(self, batch: Batch) -> list[RecordResult]:
        endpoint = _ENDPOINT[batch.operation]
        response = self.http.request(
            "POST",
            f"{self._url}/{endpoint}",
            json={"inputs": [item.body for item in batch.items]},
            headers=self._headers,
        )
        body = json_or_none(response) or {}
        self._raise_for_batch(response.status_code, body)
        ids = self._ids_by_input(batch)
        result_ids = {}
        for result in body.get("results") or []:
            value = str((result.get("properties") or {}).get(self.settings.id_property, "")).strip().lower()
            if value:
                result_ids[value] = str(result.get("id")) if result.get("id") is not None else None
        failed, unattributed = self._errors(body.get("errors") or [], ids)
        results = []
        for item in batch.items:
            id_value = ids.get(item.key, "")
            if item.key in failed:
                results.append(RecordResult(item.key, False, failed[item.key]))
            elif unattributed and id_value not in result_ids:
                results.append(RecordResult(item.key, False, unattributed))
            else:
                results.append(RecordResult(item.key, True, destination_id=result_ids.get(id_value)))
        return results

    def delete(self, batch: Batch) -> list[RecordResult]:
        response = self.http.request(
            "POST",
            f"{self._url}/archive",
            json={"inputs": [item.body for item in batch.items]},
            headers=self._headers,
        )
        if response.status_code == 404:
            return [RecordResult(item.key, True) for item in batch.items]
        body = json_or_none(response) or {}
        self._raise_for_batch(response.status_code, body)
        ids = {item.key: str(item.body["id"]).lower() for item in batch.items}
        failed, unattributed = self._errors(body.get("errors") or [], ids)
        return [
            RecordResult(item.key, False, failed.get(item.key) or unattributed)
            if item.key in failed or unattributed
            else RecordResult(item.key, True)
            for item in batch.items
        ]

    supports_erase = True

    def erase(self, records: list[Record], request_id: str) -> list[RecordResult]:
        """`POST /crm/v3/objects/{object}/gdpr-delete`: HubSpot's permanent deletion, one record per call, by
        the HubSpot id kept in state or else by the idProperty value. 404: already gone."""
        results = []
        for record in records:
            if record.destination_id:
                body = {"objectId": record.destination_id}
            else:
                value = str(record.fields.get(self.settings.id_property) or "").strip()
                if not value:
                    results.append(
                        RecordResult(record.key, False, "no HubSpot id or idProperty value to delete by")
                    )
                    continue
                body = {"objectId": value, "idProperty": self.settings.id_property}
            url = self._url.removesuffix("/batch") + "/gdpr-delete"
            response = self.http.request("POST", url, json=body, headers=self._headers)
            if response.status_code in (200, 204, 404):
                results.append(RecordResult(record.key, True))
            else:
                reply = json_or_none(response) or {}
                results.append(
                    RecordResult(
                        record.key, False, f"HTTP {response.status_code}: {reply.get('message', '')}"
                    )
                )
        return results

    def _ids_by_input(self, batch: Batch) -> dict[str, str]:
        ids = {}
        for item in batch.items:
            if "id" in item.body:
                ids[item.key] = str(item.body["id"]).strip().lower()
            else:
                value = item.body.get("properties", {}).get(self.settings.id_property, "")
                ids[item.key] = str(value).strip().lower()
        return ids

    @staticmethod
    def _raise_for_batch(status: int, body: dict[str, Any]) -> None:
        if status in (200, 201, 204, 207):
            return
        message = f"HTTP {status} {body.get('category', '')}: {body.get('message', '')}".strip()
        if status in (400, 409, 413, 422):
            raise BatchRejected(message)
        raise DestinationFatalError(message)

    @staticmethod
    def _errors(errors: list[dict[str, Any]], ids: dict[str, str]) -> tuple[dict[str, str], str | None]:
        """Per-record errors from a 207 multi-status body. HubSpot names the failing inputs in each error's
        `context` (lists of ids or idProperty values); an error that names none cannot be attributed."""
        by_value = {value: key for key, value in ids.items()}
        failed: dict[str, str] = {}
        unattributed = None
        for error in errors:
            message = f"{error.get('category', 'ERROR')}: {error.get('message', '')}"
            named = []
            for values in (error.get("context") or {}).values():
                for value in values if isinstance(values, list) else [values]:
                    key = by_value.get(str(value).lower())
                    if key is not None:
                        named.append(key)
            for key in named:
                failed[key] = message
            if not named:
                unattributed = message
        return failed, unattributed
