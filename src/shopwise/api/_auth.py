"""Bearer-key authentication as FastAPI dependencies: ``Depends(authorize(Scope.READ))``."""

from __future__ import annotations

from collections.abc import Callable

from fastapi import Request

from shopwise.auth import ApiKey, Scope
from shopwise.errors import AuthError
from shopwise.runtime import Runtime


def runtime(request: Request) -> Runtime:
    rt: Runtime = request.app.state.runtime
    return rt


def bearer_key(request: Request) -> ApiKey:
    """The verified key of the request (401 when missing, malformed or unknown)."""
    header = request.headers.get("authorization")
    if not header:
        raise AuthError("missing Authorization header (expected 'Bearer <key>')")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise AuthError("Authorization header must be 'Bearer <key>'")
    return runtime(request).keys.verify(token.strip())


def authorize(scope: Scope) -> Callable[[Request], ApiKey]:
    """A dependency yielding the request's key if it grants ``scope`` (403) at its rate (429)."""

    def dependency(request: Request) -> ApiKey:
        key = bearer_key(request)
        key.require(scope)
        runtime(request).limiter.take(key.id)
        return key

    return dependency
