"""Pacing and retry timing: a token bucket that honours `Retry-After`, and exponential backoff with jitter."""

from __future__ import annotations

import logging
import math
import random
import time
from dataclasses import dataclass, field
from typing import Protocol

log = logging.getLogger(__name__)

# A rolling-window server counts the request sent exactly one window ago whenever latencies differ, so a
# client paced at exactly the documented rate collects a 429 about every other window. Pacing at 98% keeps
# a margin of two requests per hundred and still leaves throughput above 95% of the limit.
HEADROOM = 0.98


class Clock(Protocol):
    """Time as the engine sees it; tests pass a fake one so that backoff and `Retry-After` cost nothing."""

    def now(self) -> float: ...

    def sleep(self, seconds: float) -> None: ...


class SystemClock:
    """The real monotonic clock."""

    def now(self) -> float:
        return time.monotonic()

    def sleep(self, seconds: float) -> None:
        if seconds > 0:
            time.sleep(seconds)


class TokenBucket:
    """Allows `rate` requests per second on average with bursts of up to `capacity`.

    `hold_off(seconds)` empties the bucket and blocks every caller until the server's `Retry-After` has
    passed, so one 429 slows the whole sync rather than one request."""

    def __init__(self, rate: float, capacity: float, clock: Clock) -> None:
        if rate <= 0 or capacity < 1:
            raise ValueError("rate must be positive and capacity at least 1")
        self.rate = rate
        self.capacity = capacity
        self.clock = clock
        self._tokens = capacity
        self._updated = clock.now()
        self._blocked_until = 0.0
        self.waited = 0.0

    @classmethod
    def for_limit(cls, requests: int, per_seconds: float, clock: Clock) -> TokenBucket:
        """A bucket that never exceeds `requests` in any window of `per_seconds`, even a rolling one."""
        rate = requests / per_seconds * HEADROOM
        capacity = max(1, requests - math.floor(requests * HEADROOM))
        return cls(rate, capacity, clock)

    def _refill(self) -> None:
        now = self.clock.now()
        self._tokens = min(self.capacity, self._tokens + (now - self._updated) * self.rate)
        self._updated = now

    def acquire(self) -> None:
        """Take one token, sleeping until one is available and any `Retry-After` has passed."""
        for _ in range(1_000_000):
            now = self.clock.now()
            if now < self._blocked_until:
                self._sleep(self._blocked_until - now)
                continue
            self._refill()
            # The tolerance absorbs float rounding, which could otherwise leave 0.9999999 tokens forever.
            if self._tokens >= 1 - 1e-9:
                self._tokens = max(0.0, self._tokens - 1)
                return
            self._sleep(max((1 - self._tokens) / self.rate, 1e-6))
        raise RuntimeError("token bucket did not refill; is the clock moving?")

    def hold_off(self, seconds: float) -> None:
        """Obey a server's `Retry-After`: send nothing for `seconds`, then the bucket refills from empty."""
        now = self.clock.now()
        self._blocked_until = max(self._blocked_until, now + max(0.0, seconds))
        self._tokens = 0.0
        self._updated = self._blocked_until
        log.info("rate limited by the destination: holding off %.2fs", seconds)

    def _sleep(self, seconds: float) -> None:
        self.waited += seconds
        self.clock.sleep(seconds)


@dataclass
class Backoff:
    """Exponential backoff with full jitter: attempt n waits uniformly in [0, min(cap, base * 2**(n-1))]."""

    base: float = 0.5
    cap: float = 30.0
    rng: random.Random = field(default_factory=random.Random)

    def delay(self, attempt: int) -> float:
        ceiling = min(self.cap, self.base * (2 ** max(0, attempt - 1)))
        return self.rng.uniform(0, ceiling)


def parse_retry_after(value: str | None, *, now: float | None = None) -> float | None:
    """Seconds to wait from a `Retry-After` header: either delay-seconds or an HTTP date."""
    if not value:
        return None
    value = value.strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    from email.utils import parsedate_to_datetime

    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    current = time.time() if now is None else now
    return max(0.0, when.timestamp() - current)
