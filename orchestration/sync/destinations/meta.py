"""Meta Custom Audiences from customer lists: add and remove hashed users on `/{audience_id}/users`."""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
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
from orchestration.sync.errors import BatchRejected, DestinationFatalError, InvalidRecord, RetryableError
from orchestration.sync.http import HttpSession, json_or_none
from orchestration.sync.normalise import (
    is_sha256,
    normalise_email,
    normalise_name,
    normalise_phone_meta,
    sha256_hex,
)

log = logging.getLogger(__name__)

# Graph API error codes that mean "slow down" (application, user, page and custom-audience throttling).
THROTTLING_CODES = frozenset({4, 17, 32, 613, 80003})
AUTH_CODES = frozenset({102, 190, 200})

KEYS = ("EMAIL", "PHONE", "FN", "LN", "COUNTRY", "EXTERN_ID")


class MetaAudienceSettings(DestinationSettings):
    """`POST/DELETE https://graph.facebook.com/{version}/{audience_id}/users` with form fields `payload`
    (`{"schema": [...], "data": [[...], ...]}`) and `access_token`. Map Meta's schema keys (EMAIL, PHONE,
    FN, LN, COUNTRY, EXTERN_ID) to source columns; values are normalised and SHA-256 hashed here."""

    type: Literal["meta_audience"]
    access_token_env: EnvVar
    audience_id: str
    base_url: str = "https://graph.facebook.com"
    api_version: str = "v25.0"
    default_country: str = "US"

    supported_modes: ClassVar[frozenset[str]] = frozenset({"audience"})
    # 10,000 users per call. Custom audience writes are throttled per ad account; Meta answers with
    # error code 80003 when the budget is spent, which the engine retries.
    api_limits: ClassVar[Limits] = Limits(max_batch_size=10_000, requests=10, per_seconds=1.0)

    def validate_mapping(self, mapping: dict[str, str], mode: str) -> None:
        unknown = sorted(set(mapping) - set(KEYS))
        if unknown:
            raise ValueError(f"unknown Meta schema key(s) {', '.join(unknown)}; use {', '.join(KEYS)}")
        if not {"EMAIL", "PHONE", "EXTERN_ID"} & set(mapping):
            raise ValueError("mapping must include EMAIL, PHONE or EXTERN_ID")

    def build(self, ctx: DestinationContext) -> Destination:
        return MetaAudience(
            self, ctx.session(), ctx.secret(self.access_token_env), self.limits(), ctx.mapping
        )


def _country(value: Any) -> str | None:
    text = str(value or "").strip().lower()
    return text if len(text) == 2 and text.isalpha() else None


class MetaAudience(Destination):
    replace_on_change = True

    def __init__(
        self,
        settings: MetaAudienceSettings,
        http: HttpSession,
        token: str,
        limits: Limits,
        mapping: dict[str, str],
    ) -> None:
        super().__init__()
        self.settings = settings
        self.http = http
        self.limits = limits
        self._token = token
        self.schema = [key for key in KEYS if key in mapping]
        self._url = f"{settings.base_url.rstrip('/')}/{settings.api_version}/{settings.audience_id}/users"
        region = settings.default_country
        self._normalisers: dict[str, Callable[[Any], str | None]] = {
            "EMAIL": normalise_email,
            "PHONE": lambda value: normalise_phone_meta(value, region),
            "FN": normalise_name,
            "LN": normalise_name,
            "COUNTRY": _country,
        }

    def _hashed(self, key: str, value: Any) -> str:
        if value is None or str(value).strip() == "":
            return ""
        if key == "EXTERN_ID":
            return str(value).strip()
        text = str(value).strip().lower()
        if is_sha256(text):
            return text
        normalised = self._normalisers[key](value)
        return sha256_hex(normalised) if normalised else ""

    def prepare(self, record: Record) -> Item:
        row = [self._hashed(key, record.fields.get(key)) for key in self.schema]
        if not any(
            row[index] for index, key in enumerate(self.schema) if key in ("EMAIL", "PHONE", "EXTERN_ID")
        ):
            raise InvalidRecord("no usable EMAIL, PHONE or EXTERN_ID after normalisation")
        return Item(record.key, row)

    def send_batch(self, batch: Batch) -> list[RecordResult]:
        return self._call("POST", batch)

    def delete(self, batch: Batch) -> list[RecordResult]:
        return self._call("DELETE", batch)

    supports_erase = True
    erase_batch_size = 10_000

    def erase(self, records: list[Record], request_id: str) -> list[RecordResult]:
        """`DELETE /{audience_id}/users` with the same hashed identifiers: the person leaves the audience
        (Meta deletes matched customer-list data after matching; there is no per-person profile to delete)."""
        items, results = [], []
        for record in records:
            try:
                items.append(self.prepare(Record(record.key, "remove", record.fields)))
            except InvalidRecord as exc:
                results.append(RecordResult(record.key, False, f"cannot erase: {exc}"))
        return results + (self.delete(Batch("remove", f"erase-{request_id}", items)) if items else [])

    def _call(self, method: str, batch: Batch) -> list[RecordResult]:
        payload = {"schema": self.schema, "data": [item.body for item in batch.items]}
        form = {"payload": json.dumps(payload, separators=(",", ":")), "access_token": self._token}
        response = self.http.request(method, self._url, data=form)
        body = json_or_none(response) or {}
        if response.status_code != 200:
            self._raise(response.status_code, body)
        invalid = body.get("invalid_entry_samples") or {}
        samples = set(invalid) if isinstance(invalid, dict | list) else set()
        results = []
        attributed = 0
        for item in batch.items:
            if samples & set(item.body):
                attributed += 1
                # An entry in `invalid_entry_samples` is malformed data: final until the data changes.
                results.append(
                    RecordResult(item.key, False, "Meta reported this entry as invalid", permanent=True)
                )
            else:
                results.append(RecordResult(item.key, True))
        unattributed = int(body.get("num_invalid_entries") or 0) - attributed
        if unattributed > 0:
            log.warning("Meta reported %d invalid entries it gave no sample for", unattributed)
        return results

    @staticmethod
    def _raise(status: int, body: dict[str, Any]) -> None:
        error = body.get("error") or {}
        code = error.get("code")
        message = f"HTTP {status} code {code}: {error.get('message', '')}"
        if code in THROTTLING_CODES:
            raise RetryableError(message)
        if code in AUTH_CODES:
            raise DestinationFatalError(message)
        if status in (400, 413):
            raise BatchRejected(message)
        raise DestinationFatalError(message)
