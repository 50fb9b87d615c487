"""Salesforce sObject Collections: upsert by external id (PATCH, `allOrNone: false`) and delete by id."""

from __future__ import annotations

import re
from typing import Any, ClassVar, Literal

from pydantic import field_validator

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


class SalesforceSettings(DestinationSettings):
    """`PATCH {instance}/services/data/vXX.X/composite/sobjects/{SObject}/{ExternalIdField}`, Bearer token,
    200 records per call, one result per record in request order."""

    type: Literal["salesforce"]
    access_token_env: EnvVar
    base_url: str  # the org's instance URL, e.g. https://example.my.salesforce.com
    api_version: str = "v62.0"
    sobject: str = "Contact"
    external_id_field: str

    supported_modes: ClassVar[frozenset[str]] = frozenset({"upsert", "mirror"})
    # Collections take 200 records; Salesforce meters API calls per day, not per second.
    api_limits: ClassVar[Limits] = Limits(max_batch_size=200, requests=20, per_seconds=1.0)

    @field_validator("api_version")
    @classmethod
    def _version(cls, value: str) -> str:
        if not re.fullmatch(r"v\d+\.\d", value):
            raise ValueError("api_version looks like v62.0")
        return value

    def validate_mapping(self, mapping: dict[str, str], mode: str) -> None:
        require_fields(mapping, self.external_id_field)

    def build(self, ctx: DestinationContext) -> Destination:
        return Salesforce(self, ctx.session(), ctx.secret(self.access_token_env), self.limits())


def _errors(result: dict[str, Any]) -> str:
    return (
        "; ".join(
            f"{error.get('statusCode', 'ERROR')}: {error.get('message', '')}"
            for error in result.get("errors") or []
        )
        or "failed"
    )


class Salesforce(Destination):
    # sObject Collections per-record `statusCode` values (the StatusCode enum) that describe the data:
    # validation rules, bad or missing field values, duplicates. UNABLE_TO_LOCK_ROW,
    # REQUEST_LIMIT_EXCEEDED and unknown codes are retried.
    permanent_error_codes: ClassVar[frozenset[str]] = frozenset(
        {
            "DUPLICATE_VALUE",
            "DUPLICATES_DETECTED",
            "FIELD_CUSTOM_VALIDATION_EXCEPTION",
            "FIELD_INTEGRITY_EXCEPTION",
            "INVALID_EMAIL_ADDRESS",
            "INVALID_FIELD",
            "INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST",
            "INVALID_TYPE_ON_FIELD_IN_RECORD",
            "MALFORMED_ID",
            "NUMBER_OUTSIDE_VALID_RANGE",
            "REQUIRED_FIELD_MISSING",
            "STRING_TOO_LONG",
        }
    )

    def __init__(self, settings: SalesforceSettings, http: HttpSession, token: str, limits: Limits) -> None:
        super().__init__()
        self.settings = settings
        self.http = http
        self.limits = limits
        self._collections = (
            f"{settings.base_url.rstrip('/')}/services/data/{settings.api_version}/composite/sobjects"
        )
        self._headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}

    def prepare(self, record: Record) -> Item:
        if record.operation == "delete":
            if not record.destination_id:
                raise InvalidRecord("no Salesforce record id in sync state, so it cannot be deleted")
            return Item(record.key, record.destination_id)
        if record.fields.get(self.settings.external_id_field) in (None, ""):
            raise InvalidRecord(f"{self.settings.external_id_field} (the external id) is empty")
        return Item(record.key, {"attributes": {"type": self.settings.sobject}, **record.fields})

    def send_batch(self, batch: Batch) -> list[RecordResult]:
        url = f"{self._collections}/{self.settings.sobject}/{self.settings.external_id_field}"
        payload = {"allOrNone": False, "records": [item.body for item in batch.items]}
        response = self.http.request("PATCH", url, json=payload, headers=self._headers)
        body = json_or_none(response)
        self._raise_for_batch(response.status_code, body)
        if not isinstance(body, list) or len(body) != len(batch.items):
            raise BatchRejected("Salesforce returned a result list that does not match the records sent")
        # UpsertResults come back in the order the records were sent.
        return [
            RecordResult(item.key, True, destination_id=result.get("id"))
            if result.get("success")
            else RecordResult(item.key, False, _errors(result))
            for item, result in zip(batch.items, body, strict=True)
        ]

    def delete(self, batch: Batch) -> list[RecordResult]:
        params = {"ids": ",".join(item.body for item in batch.items), "allOrNone": "false"}
        response = self.http.request("DELETE", self._collections, params=params, headers=self._headers)
        body = json_or_none(response)
        self._raise_for_batch(response.status_code, body)
        by_id = {str(result.get("id")): result for result in body or [] if isinstance(result, dict)}
        results = []
        for item in batch.items:
            result = by_id.get(item.body)
            if result is None:
                results.append(RecordResult(item.key, False, "no result returned for this id"))
            elif result.get("success") or any(
                error.get("statusCode") == "ENTITY_IS_DELETED" for error in result.get("errors") or []
            ):
                results.append(RecordResult(item.key, True))
            else:
                results.append(RecordResult(item.key, False, _errors(result)))
        return results

    supports_erase = True

    def erase(self, records: list[Record], request_id: str) -> list[RecordResult]:
        """`DELETE /services/data/{v}/sobjects/{SObject}/{ExternalIdField}/{value}`: delete by external id,
        which needs no Salesforce id in state. 404: already gone."""
        from urllib.parse import quote

        base = self._collections.removesuffix("/composite/sobjects")
        results = []
        for record in records:
            value = str(record.fields.get(self.settings.external_id_field) or "").strip()
            if not value:
                results.append(RecordResult(record.key, False, "no external id value to delete by"))
                continue
            url = f"{base}/sobjects/{self.settings.sobject}/{self.settings.external_id_field}/{quote(value, safe='')}"
            response = self.http.request("DELETE", url, headers=self._headers)
            if response.status_code in (200, 204, 404):
                results.append(RecordResult(record.key, True))
            else:
                body = json_or_none(response)
                first = body[0] if isinstance(body, list) and body else body or {}
                results.append(
                    RecordResult(
                        record.key, False, f"HTTP {response.status_code}: {first.get('message', '')}"
                    )
                )
        return results

    @staticmethod
    def _raise_for_batch(status: int, body: Any) -> None:
        if status == 200:
            return
        errors = body if isinstance(body, list) else [body or {}]
        message = f"HTTP {status}: " + "; ".join(
            f"{e.get('errorCode', '')} {e.get('message', '')}".strip() for e in errors if isinstance(e, dict)
        )
        if status in (400, 413, 422):
            raise BatchRejected(message)
        raise DestinationFatalError(message)
