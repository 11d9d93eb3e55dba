"""Token buckets: ``rate`` tokens a second up to ``burst``; each request takes one.

:class:`RateLimits` holds the three limits every authorised request passes (see its docstring):
per key, per shopper of a public (write) key, and per client address for keys that fail to verify.
Kept in process memory (one server); with ``SHOPWISE_REDIS_URL`` set, the buckets live in Redis
and every server shares them (:mod:`shopwise.auth._redis_limits`).
"""

from __future__ import annotations

import hashlib
import secrets
import threading
import time
from collections.abc import Callable, Hashable
from dataclasses import dataclass

from shopwise.auth._keys import ApiKey, KeyKind
from shopwise.errors import RateLimited
from shopwise.settings import Settings

MAX_BUCKETS = 100_000
"""Most buckets one :class:`RateLimiter` holds; past it idle buckets are dropped (see
:meth:`RateLimiter.take`)."""


class RateLimiter:
    """Token bucket per id; :meth:`take` raises :class:`RateLimited` with a retry delay.

    Memory is bounded: when a new id would make more than ``max_buckets``, the idle buckets (full
    again, so the same as a new one) are dropped, and if that frees less than half, the buckets
    counted longest ago go too, down to half. Ids are whatever the caller passes: the per-shopper
    and per-address limits pass digests (:class:`RateLimits`), never the ids themselves.
    """

    def __init__(
        self,
        rate: float,
        burst: int,
        clock: Callable[[], float] = time.monotonic,
        *,
        what: str = "key",
        max_buckets: int = MAX_BUCKETS,
    ) -> None:
        self._rate = rate
        self._burst = float(burst)
        self._clock = clock
        self._what = what
        self._max_buckets = max_buckets
        self._buckets: dict[Hashable, list[float]] = {}
        """Id -> [tokens, when they were counted], updated in place (every request takes
        one: no tuple made and no ``min`` called on the serving path)."""
        self._lock = threading.Lock()

    def __len__(self) -> int:
        """Buckets held now."""
        return len(self._buckets)

    def take(self, bucket_id: Hashable, cost: float = 1.0) -> None:
        now = self._clock()
        with self._lock:
            bucket = self._buckets.get(bucket_id)
            if bucket is None:
                if len(self._buckets) >= self._max_buckets:
                    self._evict(now)
                bucket = self._buckets[bucket_id] = [self._burst, now]
            tokens = bucket[0] + (now - bucket[1]) * self._rate
            if tokens > self._burst:
                tokens = self._burst
            bucket[1] = now
            if tokens < cost:
                bucket[0] = tokens
                raise self._refusal(cost - tokens)
            bucket[0] = tokens - cost

    def check(self, bucket_id: Hashable) -> None:
        """Raise :class:`RateLimited` if ``bucket_id`` has no token left now (takes none)."""
        bucket = self._buckets.get(bucket_id)
        if bucket is None:
            return
        tokens = bucket[0] + (self._clock() - bucket[1]) * self._rate
        if tokens < 1.0:
            raise self._refusal(1.0 - tokens)

    def _refusal(self, missing: float) -> RateLimited:
        return RateLimited(
            f"rate limit of {self._rate:g} requests/s exceeded for this {self._what}",
            retry_after=missing / self._rate,
        )

    def _evict(self, now: float) -> None:
        """Drop idle buckets, then the least recently counted ones, to half the cap."""
        self._buckets = {
            bucket_id: bucket
            for bucket_id, bucket in self._buckets.items()
            if bucket[0] + (now - bucket[1]) * self._rate < self._burst
        }
        keep = self._max_buckets // 2
        if len(self._buckets) > keep:
            recent = sorted(self._buckets.items(), key=lambda item: item[1][1])[-keep:]
            self._buckets = dict(recent)


def _digest(salt: bytes, *parts: str) -> bytes:
    return hashlib.blake2b("\0".join(parts).encode(), key=salt, digest_size=16).digest()


@dataclass(frozen=True)
class RateLimits:
    """The limits of authorised requests.

    - ``per_key``: every key has its bucket (``SHOPWISE_RATE_LIMIT_PER_SECOND``, ``..._BURST``).
    - ``per_shopper``: a public (write) key's requests also count per shopper, taken before the
      key's bucket, so one visitor who drains their own bucket is refused alone and does not empty
      the key that every shopper's browser holds. The shopper is the request's ``anonymous_id``
      query parameter when it names one, else the client address: ids sent only in the body (event
      batches, identify, alias) are not read before the key is checked, and a batch may carry
      several shoppers (``SHOPWISE_RATE_LIMIT_PER_SHOPPER_PER_SECOND``, ``..._BURST``).
    - ``per_address``: a key that does not verify (unknown, revoked, malformed) counts against the
      client address, and once the address's bucket is empty its keys are not even checked, so
      guessing keys is throttled (``SHOPWISE_RATE_LIMIT_UNKNOWN_KEY_PER_SECOND``, ``..._BURST``).

    Shopper ids and addresses are kept only as keyed digests (a random salt per process), so no
    bucket holds a shopper's id or address.
    """

    per_key: RateLimiter
    per_shopper: RateLimiter
    per_address: RateLimiter
    salt: bytes

    @classmethod
    def from_settings(
        cls,
        settings: Settings,
        clock: Callable[[], float] = time.monotonic,
        *,
        limiter: Callable[..., RateLimiter] = RateLimiter,
        salt: bytes | None = None,
    ) -> RateLimits:
        """The limits ``settings`` set, counted by ``limiter`` buckets; shopper and address
        digests keyed by ``salt`` (default: random, this process's own)."""
        return cls(
            per_key=limiter(settings.rate_limit_per_second, settings.rate_limit_burst, clock),
            per_shopper=limiter(
                settings.rate_limit_per_shopper_per_second,
                settings.rate_limit_per_shopper_burst,
                clock,
                what="shopper",
            ),
            per_address=limiter(
                settings.rate_limit_unknown_key_per_second,
                settings.rate_limit_unknown_key_burst,
                clock,
                what="client address's invalid keys",
            ),
            salt=secrets.token_bytes(16) if salt is None else salt,
        )

    def before_verify(self, address: str | None) -> None:
        """Refuse an address whose invalid keys used up its bucket, before its key is checked."""
        if address is not None and len(self.per_address):
            self.per_address.check(_digest(self.salt, address))

    def refused(self, address: str | None) -> None:
        """Count a key that did not verify against ``address`` (429 once its bucket is empty)."""
        if address is not None:
            self.per_address.take(_digest(self.salt, address))

    def admit(self, key: ApiKey, shopper: Callable[[], str]) -> None:
        """Take a token for ``key`` and, for a public key, first for the shopper that
        ``shopper()`` names (asked only then); 429 if either bucket is empty."""
        if key.kind is KeyKind.WRITE:
            self.per_shopper.take(_digest(self.salt, key.id, shopper()))
        self.per_key.take(key.id)
