"""The one HTTP client every API destination uses: paced by the engine's token bucket, errors classified."""

from __future__ import annotations

import functools
import logging
import ssl
from typing import Any

import certifi
import httpx

from orchestration.sync.errors import DestinationFatalError, RetryableError
from orchestration.sync.ratelimit import TokenBucket, parse_retry_after
from orchestration.sync.redact import redact

log = logging.getLogger(__name__)

USER_AGENT = "tessera-sync/0.1"


@functools.lru_cache(maxsize=1)
def _ssl_context() -> ssl.SSLContext:
    # The CA bundle httpx would load itself, loaded once: it takes ~40 ms, and runs are often shorter.
    return ssl.create_default_context(cafile=certifi.where())


class HttpSession:
    """Sends requests for a destination. It takes a token before each request and turns the status codes
    that mean "try again" (429, 5xx, timeouts, dropped connections) into `RetryableError`, and the ones
    that mean "stop" (401, 403) into `DestinationFatalError`. Everything else is returned for the
    destination to read, because only it knows its API's error format.

    Error messages name the method and path, never headers or query strings. The start of an error body
    is included, and a body can echo what we sent (an `Authorization` header, a token): the engine passes
    every error text through `orchestration.sync.redact` before it is logged, stored or raised."""

    def __init__(
        self, bucket: TokenBucket | None, *, timeout: float = 30.0, client: httpx.Client | None = None
    ):
        self.bucket = bucket
        self.client = client or httpx.Client(
            timeout=timeout, headers={"User-Agent": USER_AGENT}, verify=_ssl_context()
        )
        self._owns_client = client is None
        self.requests = 0

    def request(self, method: str, url: str, **kwargs: Any) -> httpx.Response:
        if self.bucket is not None:
            self.bucket.acquire()
        self.requests += 1
        where = f"{method} {httpx.URL(url).path}"
        try:
            response = self.client.request(method, url, **kwargs)
        except httpx.TimeoutException as exc:
            raise RetryableError(f"{where}: timed out ({type(exc).__name__})") from None
        except httpx.TransportError as exc:
            raise RetryableError(f"{where}: connection failed ({type(exc).__name__})") from None
        status = response.status_code
        if status == 429 or status >= 500:
            retry_after = parse_retry_after(response.headers.get("retry-after"))
            raise RetryableError(f"{where}: HTTP {status} {_snippet(response)}", retry_after=retry_after)
        if status in (401, 403):
            raise DestinationFatalError(
                f"{where}: HTTP {status} (check the credentials) {_snippet(response)}"
            )
        return response

    def close(self) -> None:
        if self._owns_client:
            self.client.close()


def _snippet(response: httpx.Response, limit: int = 300) -> str:
    """The start of an error body, for messages. It may echo our headers, so it is redacted before it is
    cut: a secret cut in half would no longer be recognised."""
    try:
        text = response.text
    except Exception:  # noqa: BLE001 - a body we cannot decode is simply left out
        return ""
    return (redact(text) or "")[:limit].replace("\n", " ")


def json_or_none(response: httpx.Response) -> Any:
    """The response's JSON body, or None when it has none or it is not JSON."""
    if not response.content:
        return None
    try:
        return response.json()
    except ValueError:
        return None
