"""API keys, their scopes, and the rate limits of requests (per key, shopper and address)."""

from shopwise.auth._keys import SCOPES, ApiKey, KeyKind, KeyService, Scope, parse_kind
from shopwise.auth._ratelimit import RateLimiter, RateLimits
from shopwise.auth._redis_limits import RedisRateLimiter, shared_rate_limits

__all__ = [
    "SCOPES",
    "ApiKey",
    "KeyKind",
    "KeyService",
    "RateLimiter",
    "RateLimits",
    "RedisRateLimiter",
    "Scope",
    "parse_kind",
    "shared_rate_limits",
]
