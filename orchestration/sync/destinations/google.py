"""Google Ads Customer Match: hashed identifiers added to or removed from a user list via an offline user
data job (create the job, add operations, run it)."""

from __future__ import annotations

import re
from typing import Any, ClassVar, Literal

from pydantic import Field

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
from orchestration.sync.errors import BatchRejected, DestinationFatalError, InvalidRecord
from orchestration.sync.http import HttpSession, json_or_none
from orchestration.sync.normalise import is_sha256, normalise_email, normalise_phone_e164, sha256_hex

IDENTIFIER_FIELDS = {"email": "hashedEmail", "phone": "hashedPhoneNumber"}
_OPERATION_PATH = re.compile(r"operations\[(\d+)\]")


class GoogleCustomerMatchSettings(DestinationSettings):
    """Google Ads REST: `POST /{version}/customers/{id}/offlineUserDataJobs:create`, then
    `{job}:addOperations` (partial failure on) and `{job}:run`. Headers: `Authorization: Bearer`,
    `developer-token`, and `login-customer-id` when acting through a manager account. Map `email` and/or
    `phone`; emails are trimmed and lowercased, phones formatted E.164, then SHA-256 hashed."""

    type: Literal["google_customer_match"]
    developer_token_env: EnvVar
    access_token_env: EnvVar
    customer_id: str = Field(pattern=r"^\d{10}$")
    user_list_id: str = Field(pattern=r"^\d+$")
    login_customer_id: str | None = Field(default=None, pattern=r"^\d{10}$")
    base_url: str = "https://googleads.googleapis.com"
    api_version: str = "v22"
    default_country: str = "US"

    supported_modes: ClassVar[frozenset[str]] = frozenset({"audience"})
    # At most 100,000 user identifiers per addOperations request (each record carries one or two).
    api_limits: ClassVar[Limits] = Limits(
        max_batch_size=100_000, requests=10, per_seconds=1.0, max_batch_weight=100_000
    )

    def validate_mapping(self, mapping: dict[str, str], mode: str) -> None:
        unknown = sorted(set(mapping) - set(IDENTIFIER_FIELDS))
        if unknown:
            raise ValueError(f"unknown field(s) {', '.join(unknown)}; map email and/or phone")
        if not mapping:
            raise ValueError("mapping must include email or phone")

    def build(self, ctx: DestinationContext) -> Destination:
        return GoogleCustomerMatch(
            self,
            ctx.session(),
            developer_token=ctx.secret(self.developer_token_env),
            access_token=ctx.secret(self.access_token_env),
            limits=self.limits(),
        )


class GoogleCustomerMatch(Destination):
    # GoogleAdsFailure error codes of a partial failure that describe one operation's identifiers
    # (OfflineUserDataJobError, StringFormatError, FieldError); quota and internal errors are retried.
    permanent_error_codes: ClassVar[frozenset[str]] = frozenset(
        {
            "INVALID_SHA256_FORMAT",
            "INVALID_EMAIL_ADDRESS",
            "INVALID_PHONE_NUMBER",
            "INVALID_COUNTRY_CODE",
            "INCOMPATIBLE_UPLOAD_KEY_TYPE",
            "MISSING_USER_IDENTIFIER",
            "ILLEGAL_CHARS",
            "REQUIRED",
        }
    )

    replace_on_change = True

    def __init__(
        self,
        settings: GoogleCustomerMatchSettings,
        http: HttpSession,
        *,
        developer_token: str,
        access_token: str,
        limits: Limits,
    ) -> None:
        super().__init__()
        self.settings = settings
        self.http = http
        self.limits = limits
        self._base = f"{settings.base_url.rstrip('/')}/{settings.api_version}"
        self._headers = {
            "Authorization": f"Bearer {access_token}",
            "developer-token": developer_token,
            "Content-Type": "application/json",
        }
        if settings.login_customer_id:
            self._headers["login-customer-id"] = settings.login_customer_id

    def _identifier(self, field: str, value: Any) -> dict[str, str] | None:
        if value is None or str(value).strip() == "":
            return None
        text = str(value).strip().lower()
        if is_sha256(text):
            return {IDENTIFIER_FIELDS[field]: text}
        if field == "email":
            normalised = normalise_email(value)
        else:
            normalised = normalise_phone_e164(value, self.settings.default_country)
        return {IDENTIFIER_FIELDS[field]: sha256_hex(normalised)} if normalised else None

    def prepare(self, record: Record) -> Item:
        identifiers = [
            identifier
            for field in IDENTIFIER_FIELDS
            if (identifier := self._identifier(field, record.fields.get(field))) is not None
        ]
        if not identifiers:
            raise InvalidRecord("no usable email or phone after normalisation")
        return Item(record.key, {"userIdentifiers": identifiers}, weight=len(identifiers))

    def send_batch(self, batch: Batch) -> list[RecordResult]:
        return self._job(batch, "create")

    def delete(self, batch: Batch) -> list[RecordResult]:
        return self._job(batch, "remove")

    supports_erase = True
    erase_batch_size = 10_000

    def erase(self, records: list[Record], request_id: str) -> list[RecordResult]:
        """An offline user data job of `remove` operations with the hashed identifiers last sent."""
        items, results = [], []
        for record in records:
            try:
                items.append(self.prepare(Record(record.key, "remove", record.fields)))
            except InvalidRecord as exc:
                results.append(RecordResult(record.key, False, f"cannot erase: {exc}"))
        return results + (self.delete(Batch("remove", f"erase-{request_id}", items)) if items else [])

    def _job(self, batch: Batch, verb: str) -> list[RecordResult]:
        customer = self.settings.customer_id
        job = {
            "type": "CUSTOMER_MATCH_USER_LIST",
            "customerMatchUserListMetadata": {
                "userList": f"customers/{customer}/userLists/{self.settings.user_list_id}",
                # Only consented records reach a destination, so both EU consent signals are granted.
                "consent": {"adUserData": "GRANTED", "adPersonalization": "GRANTED"},
            },
        }
        created = self._post(f"{self._base}/customers/{customer}/offlineUserDataJobs:create", {"job": job})
        resource = created.get("resourceName")
        if not resource:
            raise DestinationFatalError("offlineUserDataJobs:create returned no resourceName")
        operations = [{verb: item.body} for item in batch.items]
        added = self._post(
            f"{self._base}/{resource}:addOperations", {"enablePartialFailure": True, "operations": operations}
        )
        failed = self._partial_failures(added.get("partialFailureError"))
        self._post(f"{self._base}/{resource}:run", {})
        return [
            RecordResult(item.key, False, failed[index]) if index in failed else RecordResult(item.key, True)
            for index, item in enumerate(batch.items)
        ]

    def _post(self, url: str, payload: dict[str, Any]) -> dict[str, Any]:
        response = self.http.request("POST", url, json=payload, headers=self._headers)
        body = json_or_none(response) or {}
        if response.status_code == 200:
            return body
        error = body.get("error") or {}
        message = f"HTTP {response.status_code} {error.get('status', '')}: {error.get('message', '')}"
        if response.status_code == 400:
            raise BatchRejected(message)
        raise DestinationFatalError(message)

    @staticmethod
    def _partial_failures(status: dict[str, Any] | None) -> dict[int, str]:
        """Operation index → message, from the GoogleAdsFailure details of a partial failure status."""
        if not status:
            return {}
        failed: dict[int, str] = {}
        for detail in status.get("details") or []:
            for error in detail.get("errors") or []:
                elements = (error.get("location") or {}).get("fieldPathElements") or []
                for element in elements:
                    if element.get("fieldName") == "operations" and "index" in element:
                        codes = [str(code) for code in (error.get("errorCode") or {}).values()]
                        message = str(error.get("message", "rejected"))
                        failed[int(element["index"])] = f"{codes[0]}: {message}" if codes else message
                        break
        if not failed:
            # Older responses only carry the indexes in the message text ("operations[3]...").
            for match in _OPERATION_PATH.finditer(str(status.get("message", ""))):
                failed[int(match.group(1))] = str(status.get("message"))
        return failed
