"""Any HTTPS endpoint, each request signed per the Standard Webhooks spec (`webhook-signature` v1)."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
from typing import Any, ClassVar, Literal

from orchestration.sync.destinations.base import (
    ALL_MODES,
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
from orchestration.sync.errors import BatchRejected, DestinationFatalError, SyncConfigError
from orchestration.sync.http import HttpSession, json_or_none

SECRET_PREFIX = "whsec_"


def secret_key(secret: str) -> bytes:
    """The HMAC key from a `whsec_<base64>` secret (the prefix is optional, as in the reference libraries)."""
    encoded = secret[len(SECRET_PREFIX) :] if secret.startswith(SECRET_PREFIX) else secret
    return base64.b64decode(encoded)


def sign(secret: str, msg_id: str, timestamp: int, body: str) -> str:
    """`v1,` + base64(HMAC-SHA256(key, f"{msg_id}.{timestamp}.{body}")), the `webhook-signature` value."""
    digest = hmac.new(secret_key(secret), f"{msg_id}.{timestamp}.{body}".encode(), hashlib.sha256).digest()
    return "v1," + base64.b64encode(digest).decode()


class WebhookSettings(DestinationSettings):
    """POSTs `{"type": "sync.<operation>", "data": {"sync", "operation", "records": [{"key", "fields"}]}}`.

    `webhook-id` stays the same when a request is repeated, so the receiver can drop repeats. A 2xx
    confirms the batch; the body may list refused records as `{"errors": [{"key": …, "message": …}]}`."""

    type: Literal["webhook"]
    url: str
    secret_env: EnvVar

    supported_modes: ClassVar[frozenset[str]] = ALL_MODES
    api_limits: ClassVar[Limits] = Limits(max_batch_size=1000, requests=10, per_seconds=1.0)

    def build(self, ctx: DestinationContext) -> Destination:
        secret = ctx.secret(self.secret_env)
        try:
            secret_key(secret)
        except ValueError:
            raise SyncConfigError(
                f"{self.secret_env} is not a whsec_<base64> secret", key=ctx.sync_name
            ) from None
        return Webhook(self, ctx.session(), secret, self.limits(), ctx.sync_name)


class Webhook(Destination):
    supports_idempotency_key = True

    def __init__(
        self, settings: WebhookSettings, http: HttpSession, secret: str, limits: Limits, sync_name: str = ""
    ) -> None:
        super().__init__()
        self.settings = settings
        self.http = http
        self.limits = limits
        self._secret = secret
        self._sync_name = sync_name

    def prepare(self, record: Record) -> Item:
        return Item(record.key, {"key": record.key, "fields": record.fields})

    def send_batch(self, batch: Batch) -> list[RecordResult]:
        return self._send(batch)

    def delete(self, batch: Batch) -> list[RecordResult]:
        return self._send(batch)

    supports_erase = True
    erase_batch_size = 1000

    def erase(self, records: list[Record], request_id: str) -> list[RecordResult]:
        """A signed `privacy.erase` event naming the sync keys to delete (no personal fields are sent again);
        `webhook-id` is stable per request and sync, so a retried erase is a repeat the receiver drops."""
        body = json.dumps(
            {
                "type": "privacy.erase",
                "data": {
                    "sync": self._sync_name,
                    "operation": "erase",
                    "request_id": request_id,
                    "records": [{"key": record.key} for record in records],
                },
            },
            separators=(",", ":"),
        )
        digest = hashlib.sha256("|".join(sorted(r.key for r in records)).encode()).hexdigest()[:16]
        msg_id = f"msg_erase_{request_id}_{digest}"
        reply = self._post_signed(msg_id, body)
        failed = {
            str(e["key"]): str(e.get("message", "refused"))
            for e in (reply.get("errors") or [] if isinstance(reply, dict) else [])
            if isinstance(e, dict) and "key" in e
        }
        return [
            RecordResult(r.key, False, failed[r.key]) if r.key in failed else RecordResult(r.key, True)
            for r in records
        ]

    def _post_signed(self, msg_id: str, body: str) -> Any:
        """POST one Standard Webhooks-signed message; the parsed reply, or the error its status means."""
        timestamp = int(time.time())
        headers = {
            "content-type": "application/json",
            "webhook-id": msg_id,
            "webhook-timestamp": str(timestamp),
            "webhook-signature": sign(self._secret, msg_id, timestamp, body),
        }
        response = self.http.request("POST", self.settings.url, content=body.encode(), headers=headers)
        reply: Any = json_or_none(response)
        if not 200 <= response.status_code < 300:
            message = f"HTTP {response.status_code}: {str(reply)[:300] if reply is not None else ''}"
            if response.status_code in (400, 409, 413, 422):
                raise BatchRejected(message)
            raise DestinationFatalError(message)
        return reply

    def _send(self, batch: Batch) -> list[RecordResult]:
        body = json.dumps(
            {
                "type": f"sync.{batch.operation}",
                "data": {
                    "sync": batch.sync_name,
                    "operation": batch.operation,
                    "records": [item.body for item in batch.items],
                },
            },
            separators=(",", ":"),
            default=str,
        )
        msg_id = f"msg_{batch.idempotency_key}"
        reply = self._post_signed(msg_id, body)
        failed: dict[str, str] = {}
        if isinstance(reply, dict):
            for error in reply.get("errors") or []:
                if isinstance(error, dict) and "key" in error:
                    failed[str(error["key"])] = str(error.get("message", "refused"))
        return [
            RecordResult(item.key, False, failed[item.key])
            if item.key in failed
            else RecordResult(item.key, True)
            for item in batch.items
        ]
