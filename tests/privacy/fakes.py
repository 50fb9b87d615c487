"""The sync tests' contract-enforcing fakes, plus each API's deletion endpoint as documented."""

from __future__ import annotations

import hashlib
import json
import re
from typing import Any

from orchestration.sync.localserver import Request, Response
from tests.sync.fakes import (
    BrazeFake,
    GoogleFake,
    HubSpotFake,
    KlaviyoFake,
    MailchimpFake,
    MetaFake,
    SalesforceFake,
    WebhookFake,
    bearer,
    verify_standard_webhook,
)


class HubSpotGdprFake(HubSpotFake):
    """`POST /crm/v3/objects/contacts/gdpr-delete` {objectId, idProperty?}: 204, or 404 when unknown."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.gdpr_deleted: list[str] = []

    def _handle(self, request: Request) -> Response:
        if request.path != "/crm/v3/objects/contacts/gdpr-delete":
            return super()._handle(request)
        if bearer(request) != self.token or request.method != "POST":
            return Response(401, {"status": "error", "category": "INVALID_AUTHENTICATION"})
        body = request.json()
        if (
            not isinstance(body, dict)
            or not isinstance(body.get("objectId"), str)
            or set(body) - {"objectId", "idProperty"}
        ):
            return Response(400, {"status": "error", "category": "VALIDATION_ERROR", "message": "objectId"})
        object_id = body["objectId"]
        if body.get("idProperty") == "email":
            email = object_id.lower()
        elif "idProperty" in body:
            return Response(400, {"status": "error", "category": "VALIDATION_ERROR", "message": "idProperty"})
        else:
            email = next((e for e, i in self.ids.items() if i == object_id), "")
        if email not in self.store:
            return Response(404, {"status": "error", "category": "OBJECT_NOT_FOUND", "message": "not found"})
        del self.store[email]
        self.ids.pop(email, None)
        self.gdpr_deleted.append(object_id)
        return Response(204)


class KlaviyoPrivacyFake(KlaviyoFake):
    """`POST /api/data-privacy-deletion-jobs` (JSON:API, one profile by email/phone_number/id): 202."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.deletion_jobs = 0
        self.fail_deletions = 0  # answer this many deletion requests with 503

    def _handle(self, request: Request) -> Response:
        if request.path != "/api/data-privacy-deletion-jobs":
            return super()._handle(request)
        if request.headers.get("authorization") != f"Klaviyo-API-Key {self.api_key}":
            return self._error(401, "Missing or invalid private key.")
        if not re.fullmatch(r"\d{4}-\d{2}-\d{2}(\.\w+)?", request.headers.get("revision", "")):
            return self._error(400, "revision header is required")
        if self.fail_deletions > 0:
            self.fail_deletions -= 1
            return self._error(503, "Service unavailable")
        data = (request.json() or {}).get("data") or {}
        profile = (((data.get("attributes") or {}).get("profile") or {}).get("data")) or {}
        attributes = profile.get("attributes") or {}
        if (
            data.get("type") != "data-privacy-deletion-job"
            or profile.get("type") != "profile"
            or len(attributes) != 1
        ):
            return self._error(400, "one profile identifier is required")
        ((name, value),) = attributes.items()
        if name not in ("email", "phone_number", "id"):
            return self._error(400, "unknown profile identifier")
        for key, stored in list(self.store.items()):
            if str(stored.get(name, "")).lower() == str(value).lower():
                del self.store[key]
        self.deletion_jobs += 1
        return Response(202)


class MailchimpPermanentFake(MailchimpFake):
    """`POST /3.0/lists/{list}/members/{md5}/actions/delete-permanent`: 204, 404 when unknown."""

    def _handle(self, request: Request) -> Response:
        match = re.fullmatch(
            rf"/3.0/lists/{self.list_id}/members/([0-9a-f]{{32}})/actions/delete-permanent", request.path
        )
        if not match:
            return super()._handle(request)
        if request.method != "POST":
            return Response(405, {"title": "Method Not Allowed", "status": 405})
        for email in list(self.store):
            if hashlib.md5(email.encode()).hexdigest() == match.group(1):
                del self.store[email]
                return Response(204)
        return Response(404, {"title": "Resource Not Found", "status": 404, "detail": "no such member"})


class SalesforceExternalIdFake(SalesforceFake):
    """`DELETE /services/data/v62.0/sobjects/{sobject}/{external id field}/{value}`: 204, 404 when unknown."""

    def _handle(self, request: Request) -> Response:
        prefix = f"/services/data/v62.0/sobjects/{self.sobject}/{self.external_id}/"
        if not request.path.startswith(prefix):
            return super()._handle(request)
        if bearer(request) != self.token:
            return Response(
                401, [{"message": "Session expired or invalid", "errorCode": "INVALID_SESSION_ID"}]
            )
        if request.method != "DELETE":
            return Response(405, [{"message": "method", "errorCode": "METHOD_NOT_ALLOWED"}])
        value = request.path[len(prefix) :]
        if value not in self.store:
            return Response(404, [{"message": "not found", "errorCode": "NOT_FOUND"}])
        del self.store[value]
        self.ids.pop(value, None)
        return Response(204)


class WebhookEraseFake(WebhookFake):
    """Also accepts the signed `privacy.erase` event and deletes the keys it names."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.erased: list[str] = []

    def _handle(self, request: Request) -> Response:
        try:
            body = json.loads(request.body or b"{}")
        except ValueError:
            body = {}
        if body.get("type") != "privacy.erase":
            return super()._handle(request)
        if not verify_standard_webhook(self.secret, request.headers, request.body):
            return Response(401, {"message": "bad signature"})
        msg_id = request.headers["webhook-id"]
        if msg_id in self.seen:
            self.redeliveries += 1
            return self.seen[msg_id]
        records = (body.get("data") or {}).get("records")
        if not isinstance(records, list) or not records or any(set(r) != {"key"} for r in records):
            return Response(400, {"message": "records of {key} are required"})
        for record in records:
            self.store.pop(record["key"], None)
            self.erased.append(record["key"])
        response = Response(200, {"ok": True})
        self.seen[msg_id] = response
        return response


__all__ = [
    "BrazeFake",
    "GoogleFake",
    "HubSpotGdprFake",
    "KlaviyoPrivacyFake",
    "MailchimpPermanentFake",
    "MetaFake",
    "SalesforceExternalIdFake",
    "WebhookEraseFake",
]
