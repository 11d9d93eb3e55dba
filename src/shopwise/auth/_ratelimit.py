"""Per-key token buckets: ``rate`` tokens a second up to ``burst``; each request takes one.

Kept in process memory (one server); the Redis online state shares buckets between servers.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

from shopwise.errors import RateLimited


class RateLimiter:
    """Token bucket per key id; :meth:`take` raises :class:`RateLimited` with a retry delay."""

    def __init__(
        self, rate: float, burst: int, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self._rate = rate
        self._burst = float(burst)
        self._clock = clock
        self._buckets: dict[str, tuple[float, float]] = {}
        self._lock = threading.Lock()

    def take(self, key_id: str, cost: float = 1.0) -> None:
        now = self._clock()
        with self._lock:
            tokens, stamp = self._buckets.get(key_id, (self._burst, now))
            tokens = min(self._burst, tokens + (now - stamp) * self._rate)
            if tokens < cost:
                self._buckets[key_id] = (tokens, now)
                wait = (cost - tokens) / self._rate
                raise RateLimited(
                    f"rate limit of {self._rate:g} requests/s exceeded for this key",
                    retry_after=wait,
                )
            self._buckets[key_id] = (tokens - cost, now)
