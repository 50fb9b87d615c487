"""Pacing and retry timing: the token bucket, Retry-After, backoff with jitter, the rolling-window server."""

from __future__ import annotations

import random
import time

from orchestration.sync.localserver import RollingWindowLimiter
from orchestration.sync.ratelimit import Backoff, TokenBucket, parse_retry_after
from tests.sync.helpers import FakeClock


def test_bucket_never_exceeds_the_limit_in_any_rolling_window() -> None:
    clock = FakeClock()
    bucket = TokenBucket.for_limit(100, 10.0, clock)
    times = []
    for _ in range(1000):
        bucket.acquire()
        times.append(clock.now())
    # In every window of 10 s, at most 100 requests: the API's rolling-window limit holds.
    j = 0
    worst = 0
    for i, t in enumerate(times):
        while times[j] <= t - 10.0:
            j += 1
        worst = max(worst, i - j + 1)
    assert worst <= 100
    # ...and throughput stays close to the limit (98% pacing).
    rate = (len(times) - 1) / (times[-1] - times[0])
    assert 9.5 <= rate <= 10.0


def test_hold_off_blocks_every_request_until_retry_after_has_passed() -> None:
    clock = FakeClock()
    bucket = TokenBucket(rate=1000.0, capacity=5, clock=clock)
    bucket.acquire()
    start = clock.now()
    bucket.hold_off(7.0)
    bucket.acquire()
    assert clock.now() - start >= 7.0


def test_backoff_grows_exponentially_with_full_jitter_and_a_cap() -> None:
    backoff = Backoff(base=0.5, cap=8.0, rng=random.Random(1))
    for attempt, ceiling in [(1, 0.5), (2, 1.0), (3, 2.0), (4, 4.0), (5, 8.0), (9, 8.0)]:
        delays = [backoff.delay(attempt) for _ in range(200)]
        assert all(0 <= d <= ceiling for d in delays)
        assert max(delays) > ceiling * 0.8  # jitter spreads over the whole range
        assert min(delays) < ceiling * 0.2


def test_retry_after_accepts_seconds_and_http_dates() -> None:
    assert parse_retry_after("3") == 3.0
    assert parse_retry_after("1.5") == 1.5
    assert parse_retry_after(None) is None
    assert parse_retry_after("soon") is None
    now = time.time()
    date = time.strftime("%a, %d %b %Y %H:%M:%S GMT", time.gmtime(now + 60))
    assert 55 <= (parse_retry_after(date, now=now) or 0) <= 61


def test_rolling_window_limiter_answers_with_the_wait() -> None:
    limiter = RollingWindowLimiter(limit=3, window=60.0)
    assert [limiter.check() for _ in range(3)] == [None, None, None]
    wait = limiter.check()
    assert wait is not None and 59 < wait <= 60
    assert limiter.rejected == 1
