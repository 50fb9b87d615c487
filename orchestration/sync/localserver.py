"""A loopback HTTP server in a thread, with injectable faults and rate limits, for tests and the benchmark.

It plays the part of a destination API: a handler function implements the API's contract, and this
module adds what real APIs do to clients (429 with `Retry-After`, 5xx, slow responses, dropped
connections). It listens on 127.0.0.1 only."""

from __future__ import annotations

import json
import logging
import random
import threading
import time
import urllib.parse
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Literal

log = logging.getLogger(__name__)


@dataclass
class Request:
    method: str
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body or b"null")

    def form(self) -> dict[str, str]:
        return {key: values[-1] for key, values in urllib.parse.parse_qs(self.body.decode()).items()}


@dataclass
class Response:
    status: int = 200
    body: Any = None
    headers: dict[str, str] = field(default_factory=dict)

    def encode(self) -> bytes:
        if self.body is None:
            return b""
        if isinstance(self.body, bytes):
            return self.body
        return json.dumps(self.body).encode()


@dataclass(frozen=True)
class Fault:
    """What to do to one request instead of (or as well as) answering it.

    - `status`: answer `status` (with `Retry-After: retry_after` when given) without processing it;
    - `slow`: wait `delay` seconds, then answer 503 without processing it (the client has timed out);
    - `slow_after`: process it, then wait `delay` seconds before answering (accepted, but the client
      times out and will resend);
    - `drop`: close the connection without answering, unprocessed."""

    kind: Literal["status", "slow", "slow_after", "drop"]
    status: int = 500
    retry_after: float | None = None
    delay: float = 0.0
    body: Any = None


class FaultSchedule:
    """Faults by request number (1-based, counting only requests `match` accepts), and/or at random.

    `random_faults` is a list of (probability, fault); the draw is seeded, so runs are repeatable."""

    def __init__(
        self,
        at: dict[int, Fault] | None = None,
        *,
        random_faults: list[tuple[float, Fault]] | None = None,
        seed: int = 0,
        match: Callable[[Request], bool] | None = None,
    ) -> None:
        self.at = dict(at or {})
        self.random_faults = list(random_faults or [])
        self.match = match
        self._rng = random.Random(seed)
        self._lock = threading.Lock()
        self.count = 0
        self.injected: list[tuple[int, Fault]] = []

    def next(self, request: Request) -> Fault | None:
        if self.match is not None and not self.match(request):
            return None
        with self._lock:
            self.count += 1
            fault = self.at.get(self.count)
            if fault is None and self.random_faults:
                draw = self._rng.random()
                for probability, candidate in self.random_faults:
                    if draw < probability:
                        fault = candidate
                        break
                    draw -= probability
            if fault is not None:
                self.injected.append((self.count, fault))
            return fault


class RollingWindowLimiter:
    """At most `limit` requests in any rolling window of `window` seconds; others get 429 + `Retry-After`."""

    def __init__(self, limit: int, window: float) -> None:
        self.limit = limit
        self.window = window
        self._times: deque[float] = deque()
        self._lock = threading.Lock()
        self.rejected = 0

    def check(self) -> float | None:
        """None when the request may proceed (and is counted), else the seconds until it could."""
        with self._lock:
            now = time.monotonic()
            while self._times and self._times[0] <= now - self.window:
                self._times.popleft()
            if len(self._times) < self.limit:
                self._times.append(now)
                return None
            self.rejected += 1
            return self._times[0] + self.window - now


@dataclass
class LogEntry:
    at: float
    method: str
    path: str
    status: int


Handler = Callable[[Request], Response]


class LocalServer:
    """Serves `handler` on 127.0.0.1 (a free port) in daemon threads until `stop()`."""

    def __init__(
        self,
        handler: Handler,
        *,
        faults: FaultSchedule | None = None,
        limiter: RollingWindowLimiter | None = None,
        after_handle: Callable[[Request, Response], None] | None = None,
    ) -> None:
        self.handler = handler
        self.faults = faults
        self.limiter = limiter
        self.after_handle = after_handle
        self.log: list[LogEntry] = []
        self._log_lock = threading.Lock()
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        assert self._server is not None, "server not started"
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def start(self) -> LocalServer:
        outer = self

        class _Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            # Headers and body go out as separate writes; with Nagle on, the body waits for a delayed ACK.
            disable_nagle_algorithm = True

            def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - the stdlib's name
                return

            def _dispatch(self) -> None:
                length = int(self.headers.get("content-length") or 0)
                body = self.rfile.read(length) if length else b""
                parsed = urllib.parse.urlsplit(self.path)
                request = Request(
                    method=self.command,
                    path=parsed.path,
                    query=urllib.parse.parse_qs(parsed.query),
                    headers={key.lower(): value for key, value in self.headers.items()},
                    body=body,
                )
                response = outer._respond(request)
                if response is None:
                    self.close_connection = True
                    return
                payload = response.encode()
                try:
                    self.send_response(response.status)
                    for key, value in response.headers.items():
                        self.send_header(key, value)
                    if response.body is not None and not isinstance(response.body, bytes):
                        self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(payload)))
                    self.end_headers()
                    self.wfile.write(payload)
                except (BrokenPipeError, ConnectionResetError):
                    self.close_connection = True

            do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = _dispatch  # noqa: N815 - stdlib naming

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
        self._server.daemon_threads = True
        # A short poll interval makes stop() quick; the loop only checks a flag.
        self._thread = threading.Thread(
            target=self._server.serve_forever,
            kwargs={"poll_interval": 0.02},
            name="local-server",
            daemon=True,
        )
        self._thread.start()
        return self

    def _respond(self, request: Request) -> Response | None:
        fault = self.faults.next(request) if self.faults is not None else None
        if fault is not None and fault.kind != "slow_after":
            return self._fault(request, fault)
        if self.limiter is not None:
            wait = self.limiter.check()
            if wait is not None:
                # Retry-After is whole seconds (RFC 9110); round up so the client never comes back early.
                response = Response(
                    429, {"message": "rate limited"}, {"Retry-After": str(max(1, int(wait + 0.999)))}
                )
                self._record(request, response.status)
                return response
        response = self.handler(request)
        self._record(request, response.status)
        if self.after_handle is not None:
            self.after_handle(request, response)
        if fault is not None:
            time.sleep(min(fault.delay, 30.0))
        return response

    def _fault(self, request: Request, fault: Fault) -> Response | None:
        if fault.kind == "drop":
            self._record(request, 0)
            return None
        if fault.kind == "slow":
            time.sleep(min(fault.delay, 30.0))
            self._record(request, 503)
            return Response(503, {"message": "slow"})
        headers = {"Retry-After": f"{fault.retry_after:g}"} if fault.retry_after is not None else {}
        self._record(request, fault.status)
        return Response(
            fault.status, fault.body if fault.body is not None else {"message": "injected"}, headers
        )

    def _record(self, request: Request, status: int) -> None:
        with self._log_lock:
            self.log.append(LogEntry(time.monotonic(), request.method, request.path, status))

    def requests(self, path_contains: str = "") -> list[LogEntry]:
        with self._log_lock:
            return [entry for entry in self.log if path_contains in entry.path]

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)
        self._server = None

    def __enter__(self) -> LocalServer:
        return self.start() if self._server is None else self

    def __exit__(self, *exc: object) -> None:
        self.stop()
