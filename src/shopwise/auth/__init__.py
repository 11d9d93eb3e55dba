"""API keys, their scopes, and per-key rate limits."""

from shopwise.auth._keys import SCOPES, ApiKey, KeyKind, KeyService, Scope, parse_kind
from shopwise.auth._ratelimit import RateLimiter

__all__ = ["SCOPES", "ApiKey", "KeyKind", "KeyService", "RateLimiter", "Scope", "parse_kind"]
