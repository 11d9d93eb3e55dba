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
        self._buckets: dict[str, list[float]] = {}
        """Key id -> [tokens, when they were counted], updated in place (every request takes
        one: no tuple made and no ``min`` called on the serving path)."""
        self._lock = threading.Lock()

    def take(self, key_id: str, cost: float = 1.0) -> None:
        now = self._clock()
        with self._lock:
            bucket = self._buckets.get(key_id)
            if bucket is None:
                bucket = self._buckets[key_id] = [self._burst, now]
            tokens = bucket[0] + (now - bucket[1]) * self._rate
            if tokens > self._burst:
                tokens = self._burst
            bucket[1] = now
            if tokens < cost:
                bucket[0] = tokens
                raise RateLimited(
                    f"rate limit of {self._rate:g} requests/s exceeded for this key",
                    retry_after=(cost - tokens) / self._rate,
                )
            bucket[0] = tokens - cost
