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


def grant(rt: Runtime, plaintext: str, scope: Scope) -> ApiKey:
    """The verified key behind ``plaintext`` (401) if it grants ``scope`` (403) at its rate
    (429)."""
    key = rt.keys.verify(plaintext)
    key.require(scope)
    rt.limiter.take(key.id)
    return key


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
        return grant(runtime(request), bearer_token(request), scope)

    return dependency
