"""The per-key token bucket behind every authorised request (429 with a retry delay)."""

from __future__ import annotations

import pytest
from tests._clock import Clock

from shopwise.auth import RateLimiter
from shopwise.errors import RateLimited


def test_a_key_may_spend_its_burst_then_waits_for_the_rate_to_refill_it() -> None:
    clock = Clock(100.0)
    limiter = RateLimiter(rate=2.0, burst=3, clock=clock)
    for _ in range(3):
        limiter.take("k")
    with pytest.raises(RateLimited) as refused:
        limiter.take("k")
    assert refused.value.retry_after == pytest.approx(0.5)  # one token at 2 a second
    clock.now += 0.5
    limiter.take("k")
    with pytest.raises(RateLimited):
        limiter.take("k")


def test_an_idle_key_refills_to_its_burst_and_no_further() -> None:
    clock = Clock(100.0)
    limiter = RateLimiter(rate=10.0, burst=2, clock=clock)
    limiter.take("k")
    limiter.take("k")
    clock.now += 60.0
    limiter.take("k")
    limiter.take("k")
    with pytest.raises(RateLimited):
        limiter.take("k")


def test_keys_have_their_own_buckets() -> None:
    clock = Clock(100.0)
    limiter = RateLimiter(rate=1.0, burst=1, clock=clock)
    limiter.take("a")
    limiter.take("b")
    with pytest.raises(RateLimited):
        limiter.take("a")
