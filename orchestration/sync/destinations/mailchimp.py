"""Mailchimp audience members: batch subscribe/update via `POST /lists/{list_id}`, archive via DELETE."""

from __future__ import annotations

import base64
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
from orchestration.sync.errors import BatchRejected, DestinationFatalError, InvalidRecord, SyncConfigError
from orchestration.sync.http import HttpSession, json_or_none
from orchestration.sync.normalise import mailchimp_subscriber_hash

MEMBER_FIELDS = frozenset({"email_address", "language", "vip"})


class MailchimpSettings(DestinationSettings):
    """Basic auth with the API key; the data centre comes from the key's suffix (`…-us6`) unless
    `base_url` is set. Mapped fields other than `email_address`, `language` and `vip` are merge fields
    (use their tags, e.g. `FNAME`)."""

    type: Literal["mailchimp"]
    api_key_env: EnvVar
    list_id: str
    base_url: str | None = None
    status_if_new: Literal["subscribed", "pending", "unsubscribed", "transactional"] = "subscribed"

    supported_modes: ClassVar[frozenset[str]] = frozenset({"upsert", "mirror", "audience"})
    # 500 members per batch call; archiving is one member per request. Mailchimp limits concurrent
    # connections (10) rather than a rate; 10 requests a second keeps one sequential client well inside.
    api_limits: ClassVar[Limits] = Limits(
        max_batch_size=500, requests=10, per_seconds=1.0, max_delete_batch_size=1
    )

    def validate_mapping(self, mapping: dict[str, str], mode: str) -> None:
        require_fields(mapping, "email_address")

    def build(self, ctx: DestinationContext) -> Destination:
        api_key = ctx.secret(self.api_key_env)
        base_url = self.base_url
        if not base_url:
            if "-" not in api_key:
                raise SyncConfigError(
                    "cannot find the data centre in the API key; set base_url", key=ctx.sync_name
                )
            base_url = f"https://{api_key.rsplit('-', 1)[1]}.api.mailchimp.com/3.0"
        return Mailchimp(self, ctx.session(), api_key, base_url, self.limits())


class Mailchimp(Destination):
    # Batch subscribe (`POST /lists/{id}`) lists refused members in `errors` with an `error_code`:
    # ERROR_GENERIC (an address that looks fake or invalid, a member in compliance state) and
    # ERROR_CONTACT_EXISTS both describe the member's data; transient failures arrive as HTTP statuses.
    permanent_error_codes: ClassVar[frozenset[str]] = frozenset({"ERROR_GENERIC", "ERROR_CONTACT_EXISTS"})

    def __init__(
        self, settings: MailchimpSettings, http: HttpSession, api_key: str, base_url: str, limits: Limits
    ) -> None:
        super().__init__()
        self.settings = settings
        self.http = http
        self.limits = limits
        self._list_url = f"{base_url.rstrip('/')}/lists/{settings.list_id}"
        credentials = base64.b64encode(f"tessera:{api_key}".encode()).decode()
        self._headers = {"Authorization": f"Basic {credentials}", "Content-Type": "application/json"}

    def prepare(self, record: Record) -> Item:
        email = str(record.fields.get("email_address") or "").strip()
        if "@" not in email:
            raise InvalidRecord("email_address is empty or not an email address")
        if record.operation in ("remove", "delete"):
            return Item(record.key, {"email_address": email})
        member: dict[str, Any] = {"email_address": email, "status_if_new": self.settings.status_if_new}
        merge_fields = {}
        for name, value in record.fields.items():
            if name in MEMBER_FIELDS:
                if name != "email_address" and value is not None:
                    member[name] = value
            else:
                merge_fields[name] = "" if value is None else value
        if merge_fields:
            member["merge_fields"] = merge_fields
        return Item(record.key, member)

    def send_batch(self, batch: Batch) -> list[RecordResult]:
        payload = {"members": [item.body for item in batch.items], "update_existing": True}
        response = self.http.request("POST", self._list_url, json=payload, headers=self._headers)
        body = json_or_none(response) or {}
        if response.status_code != 200:
            message = f"HTTP {response.status_code}: {body.get('title', '')} {body.get('detail', '')}".strip()
            if response.status_code in (400, 413, 422):
                raise BatchRejected(message)
            raise DestinationFatalError(message)
        # Mailchimp answers 200 even when members were refused; the refused ones are listed in `errors`.
        failed = {
            str(
                error.get("email_address", "")
            ).lower(): f"{error.get('error_code', 'ERROR')}: {error.get('error', '')}"
            for error in body.get("errors") or []
        }
        ids = {
            str(member.get("email_address", "")).lower(): member.get("id")
            for member in (body.get("new_members") or []) + (body.get("updated_members") or [])
        }
        results = []
        for item in batch.items:
            email = item.body["email_address"].lower()
            if email in failed:
                results.append(RecordResult(item.key, False, failed[email]))
            else:
                results.append(RecordResult(item.key, True, destination_id=ids.get(email)))
        return results

    supports_erase = True

    def erase(self, records: list[Record], request_id: str) -> list[RecordResult]:
        """`POST /lists/{list_id}/members/{hash}/actions/delete-permanent`: permanent deletion (an archived
        member keeps their data; this does not). 404: already gone."""
        results = []
        for record in records:
            email = str(record.fields.get("email_address") or "").strip()
            if "@" not in email:
                results.append(RecordResult(record.key, False, "no email_address to delete by"))
                continue
            url = f"{self._list_url}/members/{mailchimp_subscriber_hash(email)}/actions/delete-permanent"
            response = self.http.request("POST", url, headers=self._headers)
            if response.status_code in (200, 204, 404):
                results.append(RecordResult(record.key, True))
            else:
                body = json_or_none(response) or {}
                results.append(
                    RecordResult(record.key, False, f"HTTP {response.status_code}: {body.get('detail', '')}")
                )
        return results

    def delete(self, batch: Batch) -> list[RecordResult]:
        results = []
        for item in batch.items:
            subscriber_hash = mailchimp_subscriber_hash(item.body["email_address"])
            response = self.http.request(
                "DELETE", f"{self._list_url}/members/{subscriber_hash}", headers=self._headers
            )
            # 404: the member is already gone, which is what a removal wants.
            if response.status_code in (200, 204, 404):
                results.append(RecordResult(item.key, True))
            else:
                body = json_or_none(response) or {}
                results.append(
                    RecordResult(item.key, False, f"HTTP {response.status_code}: {body.get('detail', '')}")
                )
        return results
