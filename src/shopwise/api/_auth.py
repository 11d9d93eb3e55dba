"""Bearer-key authentication as FastAPI dependencies: ``Depends(authorize(Scope.READ))``."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from fastapi import Request

from shopwise.api._runtime import runtime
from shopwise.auth import ApiKey, Scope
from shopwise.errors import AuthError
from shopwise.runtime import Runtime


def bearer_token(request: Request) -> str:
    """The key of the request's ``Authorization: Bearer`` header (401 when missing or malformed)."""
    header = request.headers.get("authorization")
    if not header:
        raise AuthError("missing Authorization header (expected 'Bearer <key>')")
    scheme, _, token = header.partition(" ")
    token = token.strip()
    if scheme.lower() != "bearer" or not token:
        raise AuthError("Authorization header must be 'Bearer <key>'")
    return token


def grant(rt: Runtime, plaintext: str, scope: Scope, request: Request) -> ApiKey:
    """The verified key behind ``plaintext`` (401) if it grants ``scope`` (403) at its rates
    (429): the key's own, the shopper's for a public key, and the client address's for keys that
    do not verify (:class:`~shopwise.auth.RateLimits`)."""
    limits = rt.limits
    address = client_address(request)
    limits.before_verify(address)
    try:
        key = rt.keys.verify(plaintext)
    except AuthError:
        limits.refused(address)
        raise
    key.require(scope)
    limits.admit(key, lambda: shopper_of(request))
    return key


def client_address(request: Request) -> str:
    """The address the request came from (as the server saw it; empty when unknown)."""
    client = request.scope.get("client")
    return str(client[0]) if client else ""


def shopper_of(request: Request) -> str:
    """Who a public key's request counts against: its ``anonymous_id`` query parameter, else its
    client address (ids sent in the body are not read before the key is checked)."""
    anonymous_id = request.query_params.get("anonymous_id")
    return f"a:{anonymous_id}" if anonymous_id else f"ip:{client_address(request)}"


def audited(
    request: Request,
    key: ApiKey,
    action: str,
    subject: str | None = None,
    details: dict[str, Any] | None = None,
) -> None:
    """Record in the audit log that ``key`` did ``action`` on ``subject`` (ids only)."""
    runtime(request).audit.record(f"key:{key.id}", action, subject, details)


def authorize(scope: Scope) -> Callable[[Request], ApiKey]:
    """A dependency yielding the request's bearer key if it grants ``scope`` (see :func:`grant`)."""

    def dependency(request: Request) -> ApiKey:
        return grant(runtime(request), bearer_token(request), scope, request)

    return dependency
