"""Rate-limit buckets in Redis, so every API process behind one address shares them.

With ``SHOPWISE_REDIS_URL`` set, :func:`shared_rate_limits` builds the
:class:`~shopwise.auth.RateLimits` whose three limiters keep their buckets in Redis: a key's, a
shopper's or an address's requests count once whichever process serves them, and a 429 from one
process holds in all of them. One Lua script refills a bucket by the time elapsed on the Redis
server's clock (the processes' clocks never meet), takes the cost and answers the wait,
atomically, in one round trip.

What Redis holds: one small hash per bucket, named by the bucket id, which is an API key's id or a
keyed digest of a shopper or address (the salt derives from ``SHOPWISE_SECRET_KEY``, so every
process computes the same digest): never a shopper's id or address. Each hash expires once its
bucket would be full again, which is the same as no bucket, so Redis memory is bounded by the
buckets used within one refill time.

Redis unreachable is a declared fallback boundary: requests are never refused for it. The
limiter counts in its own in-process buckets (the limits then hold per process), logs the outage
once, and asks Redis again after ``retry_seconds``; it logs once more when Redis answers again.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable, Hashable

import redis

from shopwise.auth._ratelimit import MAX_BUCKETS, RateLimiter, RateLimits
from shopwise.redis_state import PREFIX, RETRY_SECONDS, TIMEOUT_SECONDS, Outage, shared_salt
from shopwise.settings import Settings

log = logging.getLogger("shopwise.auth")

# KEYS: the bucket. ARGV: rate, burst, cost, ttl in ms, '1' to take (else only look).
# Returns the wait in seconds as a string (0 when the tokens were there): Lua numbers returned
# to Redis are cut to integers.
_BUCKET_LUA = """
local rate = tonumber(ARGV[1])
local burst = tonumber(ARGV[2])
local cost = tonumber(ARGV[3])
local clock = redis.call('TIME')
local now = tonumber(clock[1]) + tonumber(clock[2]) / 1000000
local state = redis.call('HMGET', KEYS[1], 'tokens', 'at')
local tokens = tonumber(state[1])
local at = tonumber(state[2])
if tokens == nil or at == nil then
  tokens = burst
  at = now
end
if now > at then tokens = tokens + (now - at) * rate end
if tokens > burst then tokens = burst end
if tokens < cost then return tostring((cost - tokens) / rate) end
if ARGV[5] == '1' then
  redis.call('HSET', KEYS[1], 'tokens', tostring(tokens - cost), 'at', tostring(now))
  redis.call('PEXPIRE', KEYS[1], ARGV[4])
end
return '0'
"""


class RedisRateLimiter(RateLimiter):
    """A :class:`RateLimiter` whose buckets live in Redis; its own buckets are the fallback.

    Parameters
    ----------
    rate, burst, clock, what, max_buckets
        As for :class:`RateLimiter` (``clock`` and ``max_buckets`` apply to the fallback buckets
        and the retry delay; the refill runs on the Redis server's clock).
    client
        The Redis connection (shared by the limiters of one process).
    prefix
        Prefix of the bucket keys.
    retry_seconds
        How long after a failed call the limiter counts in process before asking Redis again.
    """

    def __init__(
        self,
        rate: float,
        burst: int,
        clock: Callable[[], float] = time.monotonic,
        *,
        what: str = "key",
        max_buckets: int = MAX_BUCKETS,
        client: redis.Redis,
        prefix: str = PREFIX,
        retry_seconds: float = RETRY_SECONDS,
    ) -> None:
        super().__init__(rate, burst, clock, what=what, max_buckets=max_buckets)
        self._client = client
        self._script = client.register_script(_BUCKET_LUA)
        self._namespace = f"{prefix}:ratelimit:{what}:"
        # a bucket untouched this long is full again: the same as none
        self._ttl_ms = math.ceil(burst / rate * 1000) + 1000
        self._outage = Outage(
            log,
            f"{what} rate limits count per process",
            f"{what} rate limits are shared",
            retry_seconds,
            clock,
        )

    @property
    def shared(self) -> bool:
        """Whether buckets are counted in Redis now (false while falling back after an outage)."""
        return self._outage.up

    def key_of(self, bucket_id: Hashable) -> str:
        """The Redis key of ``bucket_id``'s bucket (digests are written as hex)."""
        name = bucket_id.hex() if isinstance(bucket_id, bytes) else str(bucket_id)
        return self._namespace + name

    def __len__(self) -> int:
        """Buckets that may refuse: unknown here while Redis holds them, so never zero then
        (:meth:`RateLimits.before_verify` then asks Redis)."""
        return max(1, super().__len__()) if self._outage.ask_redis() else super().__len__()

    def take(self, bucket_id: Hashable, cost: float = 1.0) -> None:
        if not self._outage.ask_redis():
            super().take(bucket_id, cost)
            return
        wait = self._call(bucket_id, cost, take=True)
        if wait is None:
            super().take(bucket_id, cost)
        elif wait > 0:
            raise self._refusal(wait * self._rate)

    def check(self, bucket_id: Hashable) -> None:
        if not self._outage.ask_redis():
            super().check(bucket_id)
            return
        wait = self._call(bucket_id, 1.0, take=False)
        if wait is None:
            super().check(bucket_id)
        elif wait > 0:
            raise self._refusal(wait * self._rate)

    def _call(self, bucket_id: Hashable, cost: float, *, take: bool) -> float | None:
        """The wait Redis answers for ``bucket_id``; None when Redis failed (fall back)."""
        args = [self._rate, self._burst, cost, self._ttl_ms, "1" if take else "0"]
        try:
            answer = self._script(keys=[self.key_of(bucket_id)], args=args)
        except redis.RedisError as exc:
            self._outage.failed(exc)
            return None
        self._outage.answered()
        return float(answer)


def shared_rate_limits(
    settings: Settings,
    url: str,
    *,
    prefix: str = PREFIX,
    clock: Callable[[], float] = time.monotonic,
    retry_seconds: float = RETRY_SECONDS,
) -> RateLimits:
    """:class:`RateLimits` with their buckets in the Redis at ``url`` (see the module docstring)."""
    client = redis.Redis.from_url(
        url, socket_timeout=TIMEOUT_SECONDS, socket_connect_timeout=TIMEOUT_SECONDS
    )

    def limiter(
        rate: float, burst: int, clock: Callable[[], float], *, what: str = "key"
    ) -> RateLimiter:
        return RedisRateLimiter(
            rate,
            burst,
            clock,
            what=what,
            client=client,
            prefix=prefix,
            retry_seconds=retry_seconds,
        )

    return RateLimits.from_settings(
        settings, clock, limiter=limiter, salt=shared_salt(settings, b"shopwise rate-limit buckets")
    )
